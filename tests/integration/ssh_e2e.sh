#!/usr/bin/env bash
# The local-target scenarios against a real sshd on 127.0.0.1: apply,
# idempotent re-apply, code change (only the changed file is sent), failure,
# timeout, cancel, logs (-f), status --refresh, secrets, a venv environment
# built on the host once, and an unknown host key refused clearly.
. "$AMLSPEC_SOURCE_DIR/tests/integration/lib/common.sh"
make_wheelhouse
SSHD_EXTRA="SetEnv PIP_NO_INDEX=1 PIP_FIND_LINKS=$T/wheels PIP_DISABLE_PIP_VERSION_CHECK=1"
sshd_start "$T/sshd"
make_ws
write_ssh_workspace
sed -i 's/^name: base/name: base\ntarget: box/' run.yaml
git commit -q -am "target box"
user_kh=$HOME/.ssh/known_hosts
kh_before=$(stat -c %Y "$user_kh" 2>/dev/null || echo none)

am_rc rc apply run.yaml; assert_rc "$rc" 0 "first apply"
assert_grep "args: \['--lr', '0.1'\]" "$T/out"
assert_grep "Completed" "$T/err"
id=$(run_ids); rj=$(run_json "$id")
[ "$(json_get "$rj" status)" = Completed ] || fail "status Completed"
[ "$(json_get "$rj" exit_code)" = 0 ] || fail "exit code"
[ "$(json_get "$rj" remote.run_dir)" = "$REMOTE_WD/runs/$id" ] || fail "remote run dir recorded"
[ -f "$REMOTE_WD/runs/$id/wd/outputs/result.json" ] || fail "outputs on the host"
[ "$(json_get "$rj" outputs.0.path)" = result.json ] || fail "outputs listed"
[ "$(json_get "$rj" metrics_count)" = 1 ] || fail "metrics counted"
[ -n "$(json_get "$rj" status_updated_at)" ] || fail "status_updated_at"
assert_grep accuracy "$WS/.amlspec/runs/$id/metrics.jsonl"
assert_grep "^done" "$WS/.amlspec/runs/$id/driver.log"
[ "$(stat -c %Y "$user_kh" 2>/dev/null || echo none)" = "$kh_before" ] || fail "ssh wrote ~/.ssh/known_hosts"
ls "$AMLSPEC_SSH_CONTROL_DIR"/* >/dev/null 2>&1 || fail "no ControlMaster socket"
pass "first apply on the ssh target"

am_rc rc apply run.yaml; assert_rc "$rc" 0 "second apply"
assert_grep "No changes" "$T/out"
[ "$(run_ids | wc -l)" = 1 ] || fail "second apply started a run"
am_rc rc logs "$id"; assert_rc "$rc" 0 logs
assert_grep "^done" "$T/out"
pass "idempotent re-apply, logs"

# a code change: a rerun that sends only the changed file
printf 'import helper\n' >src/helper_user.py
printf 'X = 1\n' >src/helper.py
git add -A && git commit -q -m "two files"
am_rc rc apply run.yaml; assert_rc "$rc" 0 "apply with new files"
assert_grep "sending 2 files" "$T/err"
echo "# changed" >>src/train.py
git commit -q -am "change"
am_rc rc plan run.yaml; assert_rc "$rc" 2 "plan after change"
assert_grep "~ rerun e2e/base" "$T/out"
am_rc rc apply run.yaml; assert_rc "$rc" 0 "apply after change"
assert_grep "sending 1 file to" "$T/err"
new=$(newest_run)
grep -q "# changed" "$REMOTE_WD/runs/$new/wd/train.py" || fail "changed file on the host"
[ -f "$REMOTE_WD/runs/$new/wd/helper.py" ] || fail "unchanged file in the new run's folder"
pass "code change -> rerun, only the change sent"

cat >src/fail.py <<'PY'
import sys
print("about to fail", flush=True)
sys.exit(3)
PY
cat >src/slow.py <<'PY'
import sys, time
print("sleeping", flush=True)
for i in range(600):
    print("tick", i, flush=True)
    time.sleep(0.1)
PY
cat >fail.run.yaml <<'YAML'
experiment: e2e
source_directory: src
script: fail.py
target: box
YAML
cat >slow.run.yaml <<'YAML'
experiment: e2e
source_directory: src
script: slow.py
target: box
limits: {timeout: 2s}
YAML
cat >cancel.run.yaml <<'YAML'
experiment: e2e
name: cancelme
source_directory: src
script: slow.py
target: box
YAML
git add -A && git commit -q -m scenarios

am_rc rc apply fail.run.yaml; assert_rc "$rc" 1 "failing script"
assert_grep "about to fail" "$T/out"
assert_grep "Failed.*: exited with code 3" "$T/err"
fid=$(run_named fail)
[ "$(json_get "$(run_json "$fid")" exit_code)" = 3 ] || fail "exit code 3 recorded"
pass "failure -> Failed"

start=$(date +%s)
am_rc rc apply slow.run.yaml; assert_rc "$rc" 1 "timeout"
[ $(( $(date +%s) - start )) -lt 25 ] || fail "timeout not enforced quickly"
assert_grep "timed out after 2s" "$T/err"
pass "timeout -> Failed"

am_rc rc apply cancel.run.yaml --no-wait; assert_rc "$rc" 0 "no-wait"
cid=$(run_named cancelme)
[ -n "$cid" ] || fail "no cancel run"
wait_status "$cid" Running 20
# logs -f follows the running job until it ends (canceled below)
"$AMLSPEC" logs -f "$cid" >"$T/follow.out" 2>"$T/follow.err" &
follow_pid=$!
i=0; until grep -q "tick 5" "$T/follow.out" || [ $i -gt 100 ]; do sleep 0.1; i=$((i+1)); done
assert_grep "tick 5" "$T/follow.out"
am_rc rc cancel "$cid" --grace 2; assert_rc "$rc" 0 cancel
assert_grep "Canceled" "$T/out"
[ "$(json_get "$(run_json "$cid")" status)" = Canceled ] || fail "record says Canceled"
pg=$(json_get "$REMOTE_WD/runs/$cid/run.json" pgid)
sleep 0.2
! kill -0 -- "-$pg" 2>/dev/null || fail "process group still alive on the host"
i=0; while kill -0 "$follow_pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
! kill -0 "$follow_pid" 2>/dev/null || fail "logs -f did not end with the run"
wait "$follow_pid" || true
assert_grep sleeping "$T/follow.out"
am_rc rc cancel "$cid"; assert_rc "$rc" 1 "cancel twice"
assert_grep "already ended" "$T/err"
pass "cancel -> Canceled, logs -f"

am_rc rc status --refresh --output json; assert_rc "$rc" 0 "status --refresh"
python3 - "$T/out" <<'PY' || fail "status json"
import json, sys
d = json.load(open(sys.argv[1]))
runs = d["runs"]
assert runs and all(r["status"] in ("Completed", "Failed", "Canceled") for r in runs), runs
assert all(r.get("status_checked_at") for r in runs), runs
PY
am_rc rc status; assert_rc "$rc" 0 "status text"
assert_grep "$cid" "$T/out"
pass "status"

# secrets reach the script and are written nowhere
cat >src/secret.py <<'PY'
import os
print("secret length", len(os.environ["AMLSPEC_TEST_SECRET"]), flush=True)
PY
cat >secret.run.yaml <<'YAML'
experiment: e2e
name: secret
source_directory: src
script: secret.py
target: box
secrets: [AMLSPEC_TEST_SECRET]
YAML
git add -A && git commit -q -m secret
AMLSPEC_TEST_SECRET=s3cr3t-Val-9f2 am_rc rc apply secret.run.yaml; assert_rc "$rc" 0 "secret run"
assert_grep "secret length 14" "$T/out"
assert_no_grep "s3cr3t-Val-9f2" "$WS/.amlspec"
assert_no_grep "s3cr3t-Val-9f2" "$REMOTE_WD"
pass "secrets"

# an environment with a pip package, built on the host once (pip finds the
# wheelhouse through the sshd's SetEnv), reused the second time
cat >src/pkg.py <<'PY'
import sys, amlspec_tinypkg
print("tinypkg", amlspec_tinypkg.__version__, sys.prefix, flush=True)
PY
cat >pkg.run.yaml <<'YAML'
experiment: e2e
name: pkg
source_directory: src
script: pkg.py
target: box
environment:
  python:
    pip_packages: [amlspec_tinypkg==0.2.0]
YAML
git add -A && git commit -q -m pkg
am_rc rc apply pkg.run.yaml; assert_rc "$rc" 0 "venv env on the host"
assert_grep "tinypkg 0.2.0 $REMOTE_WD/envs/" "$T/out"
assert_grep "building environment" "$T/err"
am_rc rc apply pkg.run.yaml --rerun; assert_rc "$rc" 0 "venv env reused"
assert_grep "cached" "$T/err"
assert_no_grep "building environment" "$T/err"
pass "environment materialized on the host, cached by digest"

# an unknown host key is a clear error, and nothing is written
: >"$T/empty_known_hosts"
cat >>"$WS/amlspec.yaml" <<YAML
  stranger:
    type: ssh
    host: 127.0.0.1
    port: $SSH_PORT
    user: root
    identity_file: $SSH_KEY
    known_hosts: $T/empty_known_hosts
    work_dir: $REMOTE_WD
YAML
sed 's/target: box/target: stranger/; s/^name: base/name: stranger/' run.yaml >stranger.run.yaml
git add -A && git commit -q -m stranger
am_rc rc apply stranger.run.yaml; assert_rc "$rc" 1 "unknown host key"
assert_grep "host key of root@127.0.0.1:$SSH_PORT is not in $T/empty_known_hosts" "$T/err"
[ ! -s "$T/empty_known_hosts" ] || fail "ssh wrote the known_hosts file"
pass "unknown host key refused"

# plan refuses what the target cannot run
cat >multi.run.yaml <<'YAML'
experiment: e2e
name: multi
source_directory: src
script: train.py
target: box
framework: pytorch
distribution: {node_count: 2, process_count_per_node: 1}
YAML
am_rc rc plan multi.run.yaml; assert_rc "$rc" 1 "ssh with node_count 2"
assert_grep "is one host; node_count 2 needs a slurm target" "$T/err"
pass "check refuses node_count > 1"
