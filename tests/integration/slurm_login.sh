#!/usr/bin/env bash
# The slurm target through a login node (login: an ssh target): files,
# sbatch, squeue, scontrol, scancel and the log all go through the ssh
# transport (the test's sshd hands its sessions SLURM_CONF, as a cluster's
# login node has its configuration).
. "$AMLSPEC_SOURCE_DIR/tests/integration/lib/common.sh"
slurm_start "$T/slurm"
SSHD_EXTRA="SetEnv SLURM_CONF=$SLURM_CONF"
sshd_start "$T/sshd"
make_ws
write_ssh_workspace "  hpc:
    type: slurm
    work_dir: $REMOTE_WD
    login: box"
sed -i 's/^name: base/name: base\ntarget: hpc/' run.yaml
cat >src/slow.py <<'PY'
import time
for i in range(600):
    print("tick", i, flush=True)
    time.sleep(0.1)
PY
cat >slow.run.yaml <<'YAML'
experiment: e2e
name: slow
source_directory: src
script: slow.py
target: hpc
YAML
git add -A && git commit -q -m login

# amlspec must not find sbatch here: hide the local Slurm configuration
(
	unset SLURM_CONF
	am_rc rc apply run.yaml; assert_rc "$rc" 0 "apply through the login node"
	assert_grep "args: \['--lr', '0.1'\]" "$T/out"
	id=$(run_ids); rj=$(run_json "$id")
	[ "$(json_get "$rj" status)" = Completed ] || fail "Completed"
	[ "$(json_get "$rj" remote.ssh.name)" = box ] || fail "the login's options recorded"
	[ "$(json_get "$rj" outputs.0.path)" = result.json ] || fail "outputs listed"
	assert_grep accuracy "$WS/.amlspec/runs/$id/metrics.jsonl"
	ls "$AMLSPEC_SSH_CONTROL_DIR"/* >/dev/null 2>&1 || fail "no ControlMaster socket"
	pass "apply through the login node"

	am_rc rc apply slow.run.yaml --no-wait; assert_rc "$rc" 0 "start slow"
	sid=$(run_named slow)
	wait_status "$sid" Running 30
	am_rc rc logs "$sid"; assert_rc "$rc" 0 "logs through the login node"
	i=0; until grep -q "tick 3" "$T/out" || [ $i -gt 50 ]; do sleep 0.2; am_rc rc logs "$sid"; i=$((i+1)); done
	assert_grep "tick 3" "$T/out"
	am_rc rc cancel "$sid"; assert_rc "$rc" 0 "cancel through the login node"
	[ "$(json_get "$(run_json "$sid")" status)" = Canceled ] || fail "Canceled"
	pass "logs and cancel through the login node"
)
