# Shared by tests/integration/*.sh: the end-to-end helpers (tests/e2e/lib.sh:
# a fresh workspace in $T, am, am_rc, assert_*, json_get, wait_status), plus
# daemons started for the test and stopped, by pid, whatever happens.
. "$AMLSPEC_SOURCE_DIR/tests/e2e/lib.sh"
INT_LIB=$AMLSPEC_SOURCE_DIR/tests/integration/lib
. "$INT_LIB/sshd.sh"
. "$INT_LIB/slurm.sh"

# ControlMaster sockets of this test, in a short private folder
export AMLSPEC_SSH_CONTROL_DIR="$T/cm"
REMOTE_WD="$T/remote"

# The ssh ControlMaster process behind a socket ("" when none).
ssh_master_pid() {
	ssh -o ControlPath="$1" -O check placeholder 2>&1 | sed -n 's/.*pid=\([0-9]*\).*/\1/p'
}

int_cleanup() {
	local rc=$?
	set +e
	# runs the test left on the "host" (the same machine): by their process groups
	for f in "$REMOTE_WD"/runs/*/run.json; do
		[ -f "$f" ] || continue
		pg=$(json_get "$f" pgid 2>/dev/null)
		sp=$(json_get "$f" supervisor_pid 2>/dev/null)
		[ -n "$pg" ] && kill -KILL -- "-$pg" 2>/dev/null
		[ -n "$sp" ] && kill -KILL "$sp" 2>/dev/null
	done
	for s in "$AMLSPEC_SSH_CONTROL_DIR"/*; do
		[ -S "$s" ] || continue
		p=$(ssh_master_pid "$s")
		[ -n "$p" ] && stop_pid "$p"
	done
	slurm_stop
	sshd_stop
	cleanup
	exit $rc
}
trap int_cleanup EXIT
# a test stopped by a signal (ctest's timeout, Ctrl-C) still stops its daemons
trap 'exit 143' TERM
trap 'exit 130' INT
trap 'exit 129' HUP
trap 'exit 141' PIPE

# amlspec.yaml with an ssh target "box" at the test's sshd, plus $1 (more YAML lines)
write_ssh_workspace() {
	cat >"$WS/amlspec.yaml" <<YAML
version: 1
workspace: integration
targets:
  box:
    type: ssh
    host: 127.0.0.1
    port: $SSH_PORT
    user: root
    identity_file: $SSH_KEY
    known_hosts: $SSH_KNOWN_HOSTS
    work_dir: $REMOTE_WD
${1:-}
YAML
	git -C "$WS" add amlspec.yaml && git -C "$WS" commit -q -m "workspace" || true
}

# amlspec.yaml with a slurm target "hpc" (sbatch here), plus $1 (more YAML lines)
write_slurm_workspace() {
	cat >"$WS/amlspec.yaml" <<YAML
version: 1
workspace: integration
targets:
  hpc:
    type: slurm
    partition: debug
    work_dir: $REMOTE_WD
${1:-}
YAML
	git -C "$WS" add amlspec.yaml && git -C "$WS" commit -q -m "workspace" || true
}

# run id of the newest run whose spec name is $1
run_named() {
	python3 - "$WS/.amlspec/runs" "$1" <<'PY'
import json, os, sys
d = sys.argv[1]
runs = []
for r in os.listdir(d) if os.path.isdir(d) else []:
    j = json.load(open(os.path.join(d, r, "run.json")))
    if j.get("name") == sys.argv[2]:
        runs.append((j.get("created_at", ""), r))
print(max(runs)[1] if runs else "")
PY
}

# the run created last (run ids sort by second only)
newest_run() {
	python3 - "$WS/.amlspec/runs" <<'PY'
import json, os, sys
d = sys.argv[1]
runs = [(json.load(open(os.path.join(d, r, "run.json"))).get("created_at", ""), r) for r in os.listdir(d)]
print(max(runs)[1])
PY
}
