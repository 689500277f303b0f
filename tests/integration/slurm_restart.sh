#!/usr/bin/env bash
# slurmctld restarted during a run: while it is down, status keeps the last
# known status (and says how old it is) instead of inventing one; once it is
# back, the run's final status is recorded. After a restart that lost the
# controller's state (-c), a finished job is found in the job completion log,
# and a job nobody knows any more is Failed ("job vanished"), not Running
# forever.
. "$AMLSPEC_SOURCE_DIR/tests/integration/lib/common.sh"
slurm_start "$T/slurm"
make_ws
write_slurm_workspace
cat >src/ticks.py <<'PY'
import os, sys, time
for i in range(int(sys.argv[1])):
    print("tick", i, flush=True)
    time.sleep(0.5)
open(os.path.join(os.environ["AMLSPEC_OUTPUTS_DIR"], "finished"), "w").write("yes")
print("finished", flush=True)
PY
mk() { # mk NAME TICKS
	cat >"$1.run.yaml" <<YAML
experiment: restart
name: $1
source_directory: src
script: ticks.py
arguments: [$2]
target: hpc
YAML
}
mk a 8; mk quick 1; mk long 600
git add -A && git commit -q -m specs

am_rc rc apply a.run.yaml --no-wait; assert_rc "$rc" 0 "start a"
a=$(run_named a)
wait_status "$a" Running 30
slurmctld_stop
am_rc rc status --refresh --output json; assert_rc "$rc" 0 "status while slurmctld is down"
python3 - "$T/out" "$a" <<'PY' || fail "status while down"
import json, sys
d = json.load(open(sys.argv[1]))
r = [r for r in d["runs"] if r["run_id"] == sys.argv[2]][0]
assert r["status"] == "Running", r
PY
assert_grep "squeue failed" "$T/err"
sleep 1
slurmctld_start
wait_status "$a" Completed 60
[ "$(json_get "$(run_json "$a")" outputs.0.path)" = finished ] || fail "outputs after the restart"
am_rc rc logs "$a"; assert_rc "$rc" 0 logs
assert_grep "^finished" "$T/out"
pass "slurmctld restarted during a run: final status recorded"

# nobody polls these two until the controller has forgotten everything
am_rc rc apply quick.run.yaml --no-wait; assert_rc "$rc" 0 "start quick"
q=$(run_named quick)
qjob=$(json_get "$(run_json "$q")" remote.job_id)
i=0; until grep -q "JobId=$qjob .*JobState=COMPLETED" "$SLURM_DIR/log/jobcomp.txt" 2>/dev/null || [ $i -gt 300 ]; do sleep 0.1; i=$((i+1)); done
assert_grep "JobId=$qjob " "$SLURM_DIR/log/jobcomp.txt"
am_rc rc apply long.run.yaml --no-wait; assert_rc "$rc" 0 "start long"
l=$(run_named long)
ljob=$(json_get "$(run_json "$l")" remote.job_id)
i=0; until [ "$(squeue -h -j "$ljob" -o %T 2>/dev/null)" = RUNNING ] || [ $i -gt 300 ]; do sleep 0.1; i=$((i+1)); done
slurmctld_stop
slurmctld_start -c
am_rc rc status --refresh; assert_rc "$rc" 0 "status after a clean restart"
assert_grep "$q.*Completed" "$T/out"
assert_grep "$l.*Failed" "$T/out"
[ "$(json_get "$(run_json "$q")" remote.slurm_source)" = jobcomp ] || fail "quick's status came from the job completion log"
assert_grep "job vanished" "$(run_json "$l")"
pass "after a clean restart: jobcomp knows the finished job; the lost one is Failed (job vanished)"
