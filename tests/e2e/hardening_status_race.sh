#!/usr/bin/env bash
# status, plan and cancel while an apply is still preparing a run (strace
# holds apply for 3 s right before it forks the supervisor) must not declare
# the run dead: it is Preparing, then runs and ends Completed with no error.
# And when that apply is killed while preparing, the run is reported as never
# started, and is never started later by a late supervisor.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hardening_lib.bash"
need_strace
make_ws
cat >src/quick.py <<'PY'
print("quick ran", flush=True)
PY
printf 'experiment: e2e\nname: q\nsource_directory: src\nscript: quick.py\n' >q.run.yaml

# 1. apply held for 3 s before the supervisor's fork (clone #1)
ASAN_OPTIONS=$H_TRACED_ASAN setsid strace -qq -o /dev/null -e trace=clone -e inject=clone:delay_enter=3000000:when=1 \
	"$AMLSPEC" apply q.run.yaml >"$T/a.out" 2>"$T/a.err" &
apid=$!
H_PGIDS+=("$apid")
for _ in $(seq 100); do [ -n "$(run_ids)" ] && [ -f "$(run_json "$(run_ids | head -1)")" ] && break; sleep 0.05; done
id=$(run_ids)
[ -n "$id" ] || fail "apply did not create the run record"
sleep 0.3
am_rc rc status; assert_rc "$rc" 0 "status during preparation"
am_rc rc status "$id" --output json; assert_rc "$rc" 0 "status RUN_ID during preparation"
st=$(json_get "$T/out" run.status)
[ "$st" = Preparing ] || fail "status during preparation says $st (expected Preparing)"
am_rc rc plan q.run.yaml
assert_no_grep "Failed" "$T/out"
wait "$apid" 2>/dev/null || { cat "$T/a.err"; fail "the held apply failed"; }
assert_grep "quick ran" "$T/a.out"
rj=$(run_json "$id")
[ "$(json_get "$rj" status)" = Completed ] || { cat "$rj"; fail "run did not complete"; }
[ -z "$(json_get "$rj" error)" ] || fail "a completed run carries the error: $(json_get "$rj" error)"
[ -z "$(json_get "$rj" lost)" ] || fail "a completed run is marked lost"
pass "status and plan during preparation leave the run alone"

# 2. the same apply killed while held: never started, and stays so
echo "# v2" >>src/quick.py
ASAN_OPTIONS=$H_TRACED_ASAN setsid strace -qq -o /dev/null -e trace=clone -e inject=clone:delay_enter=3000000:when=1 \
	"$AMLSPEC" apply q.run.yaml >"$T/a.out" 2>"$T/a.err" &
apid=$!
H_PGIDS+=("$apid")
for _ in $(seq 100); do [ "$(run_ids | wc -l)" = 2 ] && break; sleep 0.05; done
id2=$(run_ids | grep -v "$id" || true)
[ -n "$id2" ] || fail "second run record"
# killed once the state names the run (it is saved before the run can start)
for _ in $(seq 100); do grep -q "$id2" "$WS/.amlspec/state.json" && break; sleep 0.05; done
grep -q "$id2" "$WS/.amlspec/state.json" || fail "the state does not name the run being prepared"
sleep 0.2
kill -KILL -- "-$apid"
wait "$apid" 2>/dev/null || true
am_rc rc status "$id2" --output json; assert_rc "$rc" 0 "status after the kill"
[ "$(json_get "$T/out" run.status)" = Failed ] || { cat "$T/out" "$(run_json "$id2")"; fail "killed preparation not reported Failed"; }
assert_grep "never started" "$T/out"
am_rc rc plan q.run.yaml; assert_rc "$rc" 2 "plan reruns the spec"
assert_grep "last run $id2: Failed" "$T/out"
am_rc rc apply q.run.yaml; assert_rc "$rc" 0 "apply after the kill"
hcheck check "$WS" --final e2e/q || fail "invariants"
pass "killed preparation: reported never started, rerun by the next apply"
