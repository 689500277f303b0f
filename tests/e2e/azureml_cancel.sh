#!/usr/bin/env bash
# Cancel on the azureml target: POST jobs/{id}/cancel, CancelRequested, then
# Canceled as the job reports it; status and logs follow; a second cancel is
# an error; plan shows the canceled run as a reason to run again.
. "$(dirname "$0")/lib.sh"
. "$AMLSPEC_SOURCE_DIR/tests/azureml/e2e_lib.sh"
start_emulator
make_azws
export AZURE_ACCESS_TOKEN="$TOKEN"
sed -i 's/^arguments: .*/arguments: [EMULATOR_HANG]/' run.yaml

am_rc rc apply --no-wait run.yaml; assert_rc "$rc" 0 "apply --no-wait"
assert_grep "Apply: 1 run started." "$T/err"
id=$(run_ids)
wait_status "$id" Running 20
pass "the job runs"

am_rc rc cancel "$id"; assert_rc "$rc" 0 "cancel"
assert_grep "^$id Canceled$" "$T/out"
[ "$(emu_stat jobs_canceled)" = 1 ] || fail "one cancel request"
emu log >"$T/log.json"
python3 - "$T/log.json" "$id" <<'PY' || fail "cancel request"
import json, sys
log = [e for e in json.load(open(sys.argv[1])) if e["path"].endswith("/jobs/%s/cancel" % sys.argv[2])]
assert [(e["method"], e["status"]) for e in log] == [("POST", 202)], log
PY
rj=$(run_json "$id")
[ "$(json_get "$rj" status)" = Canceled ] || fail "recorded as Canceled"
[ "$(json_get "$rj" error)" = canceled ] || fail "error says canceled"
[ -n "$(json_get "$rj" ended_at)" ] || fail "ended_at"
assert_grep "cancel requested" "$WS/.amlspec/runs/$id/driver.log"
assert_grep "status Canceled" "$WS/.amlspec/runs/$id/driver.log"
pass "cancel: CancelRequested, then Canceled"

am_rc rc cancel "$id"; assert_rc "$rc" 1 "second cancel"
assert_grep "has already ended (Canceled)" "$T/err"
am_rc rc logs "$id"; assert_rc "$rc" 0 "logs"
assert_grep "status Canceled" "$T/out"
am_rc rc plan run.yaml; assert_rc "$rc" 2 "plan after cancel"
assert_grep "last run $id: Canceled" "$T/out"
assert_no_rejects "cancel"
pass "a canceled run is reported and planned again"

# logs -f follows a job to its end
sed -i 's/^arguments: .*/arguments: [--follow]/' run.yaml
am_rc rc apply --no-wait run.yaml; assert_rc "$rc" 0 "second job"
id2=$(ls -t "$WS/.amlspec/runs" | head -1)
am_rc rc logs -f "$id2"; assert_rc "$rc" 0 "logs -f"
assert_grep "status Completed" "$T/out"
[ "$(json_get "$(run_json "$id2")" status)" = Completed ] || fail "followed to Completed"
pass "logs -f follows the job to its end"
