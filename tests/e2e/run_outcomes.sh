#!/usr/bin/env bash
# A failing script, a timeout, and a cancel each end with the right status.
. "$(dirname "$0")/lib.sh"
make_ws
cat >src/fail.py <<'PY'
import sys
print("about to fail", flush=True)
sys.exit(3)
PY
cat >src/slow.py <<'PY'
import time
print("sleeping", flush=True)
time.sleep(60)
PY
cat >fail.run.yaml <<'YAML'
experiment: e2e
source_directory: src
script: fail.py
YAML
cat >slow.run.yaml <<'YAML'
experiment: e2e
source_directory: src
script: slow.py
limits: {timeout: 2s}
YAML
cat >cancel.run.yaml <<'YAML'
experiment: e2e
name: cancelme
source_directory: src
script: slow.py
YAML

am_rc rc apply fail.run.yaml; assert_rc "$rc" 1 "failing script"
assert_grep "about to fail" "$T/out"
assert_grep "Failed" "$T/err"; assert_grep "exited with code 3" "$T/err"
id=$(run_ids)
[ "$(json_get "$(run_json "$id")" exit_code)" = 3 ] || fail "exit code recorded"
am_rc rc plan fail.run.yaml; assert_rc "$rc" 2 "plan after failure"
assert_grep "last run $id: Failed" "$T/out"
pass "failing script"

start=$(date +%s)
am_rc rc apply slow.run.yaml; assert_rc "$rc" 1 "timeout"
[ $(( $(date +%s) - start )) -lt 20 ] || fail "timeout not enforced quickly"
assert_grep "timed out after 2s" "$T/err"
pass "timeout"

am_rc rc apply cancel.run.yaml --no-wait; assert_rc "$rc" 0 "no-wait"
cid=$(ls "$WS/.amlspec/runs" | while read -r r; do [ "$(json_get "$(run_json "$r")" name)" = cancelme ] && echo "$r"; done)
[ -n "$cid" ] || fail "no cancel run"
wait_status "$cid" Running 10
am_rc rc cancel "$cid" --grace 2; assert_rc "$rc" 0 cancel
assert_grep "Canceled" "$T/out"
[ "$(json_get "$(run_json "$cid")" status)" = Canceled ] || fail "record says Canceled"
pg=$(json_get "$(run_json "$cid")" pgid)
! kill -0 -- "-$pg" 2>/dev/null || fail "process group still alive"
am_rc rc cancel "$cid"; assert_rc "$rc" 1 "cancel twice"
assert_grep "already ended" "$T/err"
pass "cancel"
