#!/usr/bin/env bash
# kill -9 of apply while the run executes: the run still finishes and is
# recorded; state stays readable.
. "$(dirname "$0")/lib.sh"
make_ws
cat >src/train.py <<'PY'
import time
print("started", flush=True)
time.sleep(2)
print("finished", flush=True)
PY
"$AMLSPEC" apply run.yaml >"$T/out" 2>"$T/err" &
pid=$!
for _ in $(seq 100); do grep -q started "$T/out" 2>/dev/null && break; sleep 0.1; done
grep -q started "$T/out" || fail "run did not start"
kill -9 "$pid"; wait "$pid" 2>/dev/null || true
id=$(run_ids)
wait_status "$id" Completed 20
am_rc rc logs "$id"; assert_grep finished "$T/out"
python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$WS/.amlspec/state.json" || fail "state unreadable"
am_rc rc apply run.yaml; assert_rc "$rc" 0 "apply after"
assert_grep "No changes" "$T/out"
pass "killed apply: run finished and recorded"

# the supervisor killed: the run is reported lost, not Running forever
echo "# v2" >>src/train.py
am_rc rc apply run.yaml --no-wait; assert_rc "$rc" 0 "no-wait"
id2=$(run_ids | grep -v "$id")
sup=$(json_get "$(run_json "$id2")" supervisor_pid)
kill -9 "$sup"
am_rc rc status "$id2"; assert_grep "supervisor process died" "$T/out"
pass "dead supervisor reported"
