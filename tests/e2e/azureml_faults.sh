#!/usr/bin/env bash
# HTTP done right, against faults the emulator injects: a 429 with
# Retry-After is retried after that many seconds; a 503 is retried with
# backoff; one that does not go away fails readably after the retries; a 400
# with an ARM error body becomes a message with its code, details and
# request ids.
. "$(dirname "$0")/lib.sh"
. "$AMLSPEC_SOURCE_DIR/tests/azureml/e2e_lib.sh"
start_emulator
make_azws
export AZURE_ACCESS_TOKEN="$TOKEN"

# the job PUT is throttled once; then the first status GET is unavailable once
emu_faults '[{"match": "^PUT .*/jobs/", "status": 429, "retry_after": 1, "message": "Too many requests, retry later"},
             {"match": "^GET .*/jobs/", "status": 503}]'
am_rc rc apply run.yaml; assert_rc "$rc" 0 "apply through 429 and 503"
[ "$(emu_stat faults_injected)" = 2 ] || fail "both faults were injected"
[ "$(emu_stat jobs_created)" = 1 ] || fail "the job was created once"
emu log >"$T/log.json"
python3 - "$T/log.json" <<'PY' || fail "Retry-After honoured"
import json, sys
log = [e for e in json.load(open(sys.argv[1])) if "/jobs/" in e["path"] and e["method"] == "PUT"]
assert [e["status"] for e in log] == [429, 201], log
gap = log[1]["t"] - log[0]["t"]
assert gap >= 0.95, "retried after %.2f s, Retry-After said 1" % gap
gets = [e for e in json.load(open(sys.argv[1])) if "/jobs/" in e["path"] and e["method"] == "GET"]
assert gets[0]["status"] == 503 and gets[1]["status"] == 200, gets[:2]
PY
assert_no_rejects "429/503"
pass "429 with Retry-After and 503 are retried"

# a 503 that does not go away: five attempts, then a readable error
emu_faults '[{"match": "^GET .*/environments/", "status": 503, "retry_after": 0, "times": 20}]'
sed -i 's/numpy==1.26.4/numpy==1.26.3/' run.yaml
am_rc rc apply run.yaml; assert_rc "$rc" 1 "persistent 503"
assert_grep "Azure ML: GET environments/amlspec/versions/[0-9a-f]\{32\}: HTTP 503 ServiceUnavailable: injected by the emulator \[x-ms-request-id" "$T/err"
n=$(emu log | python3 -c 'import json,sys; print(sum(1 for e in json.load(sys.stdin) if "/environments/" in e["path"] and e["status"] == 503))')
[ "$n" = 5 ] || fail "5 attempts on a persistent 503, saw $n"
emu_faults '[]'
pass "a persistent 503 fails after the retries, readably"

# a 400 with an ARM error body
emu_faults '[{"match": "^PUT .*/jobs/", "status": 400, "code": "UserError",
              "message": "The compute cpu-cluster is being resized; try again later.",
              "details": [{"code": "ComputeBusy", "message": "cluster resizing", "target": "computeId"}]}]'
am_rc rc apply run.yaml; assert_rc "$rc" 1 "400 on job submission"
assert_grep "Azure ML: PUT jobs/e2e_[0-9]*_[0-9a-f]*: HTTP 400 UserError: The compute cpu-cluster is being resized; try again later. (details: ComputeBusy: cluster resizing \[computeId\]) \[x-ms-request-id [0-9a-f-]\{36\}, x-ms-correlation-request-id [0-9a-f-]\{36\}\]" "$T/err"
n=$(emu log | python3 -c 'import json,sys; print(sum(1 for e in json.load(sys.stdin) if e["method"] == "PUT" and "/jobs/" in e["path"] and e["status"] == 400))')
[ "$n" = 1 ] || fail "a 400 is not retried ($n attempts)"
id=$(ls -t "$WS/.amlspec/runs" | head -1)
[ "$(json_get "$(run_json "$id")" status)" = Failed ] || fail "the run is recorded as Failed"
assert_grep "HTTP 400 UserError" "$(run_json "$id")"
pass "a 400 ARM error is shown with its details and request ids, not retried"

# an invalid body would be refused by the emulator with the specification's
# reasons: prove it by sending one by hand
curl -sS -X PUT -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
	--data '{"properties": {"jobType": "Command", "command": "python x.py", "limits": {"jobLimitsType": "Sweep", "timeout": "2h"}, "distribution": {"distributionType": "Horovod"}, "status": "Running"}}' \
	"$EURL/subscriptions/$SUB/resourceGroups/ml-rg/providers/Microsoft.MachineLearningServices/workspaces/ml-ws/jobs/handmade?api-version=2023-04-01" >"$T/bad.json"
python3 - "$T/bad.json" <<'PY' || fail "the emulator checks bodies against the specification"
import json, sys
e = json.load(open(sys.argv[1]))["error"]
targets = {d["target"]: d["message"] for d in e["details"]}
assert "body.properties.environmentId" in targets, targets          # required
assert "Command" in targets["body.properties.limits.jobLimitsType"], targets   # discriminator of CommandJobLimits
assert "Horovod" in targets["body.properties.distribution.distributionType"], targets  # enum
assert "read-only" in targets["body.properties.status"], targets    # readOnly
PY
curl -sS -o /dev/null -w '%{http_code}' -X GET -H "Authorization: Bearer $TOKEN" \
	"$EURL/subscriptions/$SUB/resourceGroups/ml-rg/providers/Microsoft.MachineLearningServices/workspaces/ml-ws/jobs/x?api-version=2022-10-01" >"$T/code"
[ "$(cat "$T/code")" = 400 ] || fail "another api-version is refused"
pass "the emulator refuses what the specification does not allow"
