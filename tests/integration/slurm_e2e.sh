#!/usr/bin/env bash
# The local-target scenarios against a real single-node Slurm cluster (sbatch
# on this machine): apply, idempotent re-apply, code change, failure, timeout,
# cancel (pending and running), logs (-f), status --refresh, the batch script
# and sbatch options, and what plan refuses.
. "$AMLSPEC_SOURCE_DIR/tests/integration/lib/common.sh"
slurm_start "$T/slurm"
make_ws
write_slurm_workspace
sed -i 's/^name: base/name: base\ntarget: hpc/' run.yaml
git commit -q -am "target hpc"

am_rc rc apply run.yaml; assert_rc "$rc" 0 "first apply"
assert_grep "args: \['--lr', '0.1'\]" "$T/out"
assert_grep "Slurm job [0-9]" "$T/err"
id=$(run_ids); rj=$(run_json "$id")
[ "$(json_get "$rj" status)" = Completed ] || fail "status Completed"
[ "$(json_get "$rj" exit_code)" = 0 ] || fail "exit code"
job=$(json_get "$rj" remote.job_id)
[ -n "$job" ] || fail "job id recorded"
[ "$(scontrol show job -o "$job" | tr ' ' '\n' | sed -n 's/^JobName=//p')" = "$id" ] || fail "job name is the run id"
[ -x "$REMOTE_WD/runs/$id/job.sh" ] || fail "batch script kept"
[ "$(json_get "$rj" outputs.0.path)" = result.json ] || fail "outputs listed"
[ "$(json_get "$rj" metrics_count)" = 1 ] || fail "metrics counted"
assert_grep accuracy "$WS/.amlspec/runs/$id/metrics.jsonl"
assert_grep "^done" "$WS/.amlspec/runs/$id/driver.log"
bash -n "$REMOTE_WD/runs/$id/job.sh" || fail "batch script syntax"
pass "first apply on the slurm target"

am_rc rc apply run.yaml; assert_rc "$rc" 0 "second apply"
assert_grep "No changes" "$T/out"
am_rc rc logs "$id"; assert_rc "$rc" 0 logs
assert_grep "^done" "$T/out"
echo "# changed" >>src/train.py
git commit -q -am change
am_rc rc apply run.yaml; assert_rc "$rc" 0 "apply after change"
assert_grep "~ rerun e2e/base" "$T/err"
new=$(newest_run)
grep -q "# changed" "$REMOTE_WD/runs/$new/wd/train.py" || fail "changed file on the shared file system"
pass "idempotent, code change -> rerun"

# values that a shell would take apart stay whole
cat >src/args.py <<'PY'
import os, sys
print("argv", sys.argv[1:], flush=True)
print("var", os.environ["ODD"], flush=True)
PY
cat >args.run.yaml <<'YAML'
experiment: e2e
name: args
source_directory: src
script: args.py
target: hpc
arguments: ["it's", "$(touch /tmp/amlspec-pwned)", "a b", "`id`", "\"q\"", "*"]
environment_variables: {ODD: "x'; echo pwned; '$HOME"}
YAML
git add -A && git commit -q -m args
am_rc rc apply args.run.yaml; assert_rc "$rc" 0 "odd arguments"
assert_grep "argv \[\"it's\", '\$(touch /tmp/amlspec-pwned)', 'a b', '\`id\`', '\"q\"', '\*'\]" "$T/out"
assert_grep "var x'; echo pwned; '\$HOME" "$T/out"
[ ! -e /tmp/amlspec-pwned ] || fail "an argument was evaluated"
pass "arguments and variables quoted"

cat >src/fail.py <<'PY'
import sys
print("about to fail", flush=True)
sys.exit(3)
PY
cat >src/slow.py <<'PY'
import time
print("sleeping", flush=True)
for i in range(600):
    print("tick", i, flush=True)
    time.sleep(0.1)
PY
cat >fail.run.yaml <<'YAML'
experiment: e2e
source_directory: src
script: fail.py
target: hpc
YAML
cat >slow.run.yaml <<'YAML'
experiment: e2e
source_directory: src
script: slow.py
target: hpc
limits: {timeout: 3s}
YAML
cat >cancel.run.yaml <<'YAML'
experiment: e2e
name: cancelme
source_directory: src
script: slow.py
target: hpc
YAML
git add -A && git commit -q -m scenarios

am_rc rc apply fail.run.yaml; assert_rc "$rc" 1 "failing script"
assert_grep "about to fail" "$T/out"
assert_grep "Failed.*: exited with code 3" "$T/err"
[ "$(json_get "$(run_json "$(run_named fail)")" exit_code)" = 3 ] || fail "exit code 3 recorded"
pass "failure -> Failed"

start=$(date +%s)
am_rc rc apply slow.run.yaml; assert_rc "$rc" 1 "timeout"
[ $(( $(date +%s) - start )) -lt 40 ] || fail "timeout not enforced quickly"
assert_grep "timed out after 3s (limits.timeout)" "$T/err"
sid=$(run_named slow)
sbatch_time=$(python3 -c 'import json,sys; print([a for a in json.load(open(sys.argv[1]))["remote"]["sbatch"] if a.startswith("--time=")][0])' "$(run_json "$sid")")
[ "$sbatch_time" = "--time=0-00:02:00" ] || fail "sbatch --time: $sbatch_time"
pass "timeout -> Failed"

am_rc rc apply cancel.run.yaml --no-wait; assert_rc "$rc" 0 "no-wait"
cid=$(run_named cancelme)
wait_status "$cid" Running 30
"$AMLSPEC" logs -f "$cid" >"$T/follow.out" 2>"$T/follow.err" &
follow_pid=$!
i=0; until grep -q "tick 5" "$T/follow.out" || [ $i -gt 150 ]; do sleep 0.1; i=$((i+1)); done
assert_grep "tick 5" "$T/follow.out"
am_rc rc cancel "$cid"; assert_rc "$rc" 0 cancel
assert_grep "Canceled" "$T/out"
[ "$(json_get "$(run_json "$cid")" status)" = Canceled ] || fail "record says Canceled"
i=0; while kill -0 "$follow_pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
! kill -0 "$follow_pid" 2>/dev/null || fail "logs -f did not end with the job"
wait "$follow_pid" || true
am_rc rc cancel "$cid"; assert_rc "$rc" 1 "cancel twice"
assert_grep "already ended" "$T/err"
pass "cancel (running) -> Canceled, logs -f"

# an environment with a pip package, built once in the shared work_dir
make_wheelhouse
cat >src/pkg.py <<'PY'
import sys, amlspec_tinypkg
print("tinypkg", amlspec_tinypkg.__version__, sys.prefix, flush=True)
PY
cat >pkg.run.yaml <<'YAML'
experiment: e2e
name: pkg
source_directory: src
script: pkg.py
target: hpc
environment:
  python:
    pip_packages: [amlspec_tinypkg==0.1.0]
YAML
git add -A && git commit -q -m pkg
am_rc rc apply pkg.run.yaml; assert_rc "$rc" 0 "venv env in work_dir"
assert_grep "tinypkg 0.1.0 $REMOTE_WD/envs/" "$T/out"
am_rc rc apply pkg.run.yaml --rerun; assert_rc "$rc" 0 "venv env reused"
assert_grep "cached" "$T/err"
pass "environment materialized in the shared work_dir, cached by digest"

# secrets reach the job (sbatch's --export=ALL) and are written nowhere of ours
cat >src/secret.py <<'PY'
import os
print("secret length", len(os.environ["AMLSPEC_TEST_SECRET"]), flush=True)
PY
cat >secret.run.yaml <<'YAML'
experiment: e2e
name: secret
source_directory: src
script: secret.py
target: hpc
secrets: [AMLSPEC_TEST_SECRET]
YAML
git add -A && git commit -q -m secret
AMLSPEC_TEST_SECRET=s3cr3t-Val-9f2 am_rc rc apply secret.run.yaml; assert_rc "$rc" 0 "secret run"
assert_grep "secret length 14" "$T/out"
assert_no_grep "s3cr3t-Val-9f2" "$WS/.amlspec"
assert_no_grep "s3cr3t-Val-9f2" "$REMOTE_WD"
pass "secrets"

# a job that may not start yet (--begin) stays Queued with its reason, and cancels
cat >pending.run.yaml <<'YAML'
experiment: e2e
name: pending
source_directory: src
script: slow.py
target: hpc
YAML
sed -i 's|^    work_dir: .*|&\n    sbatch_args: ["--begin=now+3600", "--comment=it'"'"'s a test"]|' amlspec.yaml
git add -A && git commit -q -m pending
am_rc rc apply pending.run.yaml --no-wait; assert_rc "$rc" 0 "pending job submitted"
pid_=$(run_named pending)
wait_status "$pid_" Queued 10
am_rc rc status "$pid_" --output json
[ -n "$(json_get "$T/out" run.remote.slurm_reason)" ] || fail "pending reason recorded"
am_rc rc cancel "$pid_"; assert_rc "$rc" 0 "cancel pending"
[ "$(json_get "$(run_json "$pid_")" status)" = Canceled ] || fail "pending job Canceled"
pass "pending job: Queued with its reason, cancel -> Canceled"

am_rc rc status --refresh --output json; assert_rc "$rc" 0 "status --refresh"
python3 - "$T/out" <<'PY' || fail "status json"
import json, sys
d = json.load(open(sys.argv[1]))
runs = d["runs"]
assert runs and all(r["status"] in ("Completed", "Failed", "Canceled") for r in runs), runs
assert all(r.get("status_checked_at") for r in runs), runs
PY
pass "status"

# plan refuses what the target cannot run
cat >spark.run.yaml <<'YAML'
experiment: e2e
name: spark
source_directory: src
script: train.py
target: hpc
framework: pyspark
YAML
am_rc rc plan spark.run.yaml; assert_rc "$rc" 1 "pyspark on slurm"
assert_grep "pyspark cannot run on target hpc (slurm)" "$T/err"
pass "check refuses pyspark"
