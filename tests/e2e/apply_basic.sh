#!/usr/bin/env bash
# First apply runs the script for real and records everything; a second apply
# does nothing; status shows the run and no drift.
. "$(dirname "$0")/lib.sh"
make_ws
am_rc rc plan run.yaml; assert_rc "$rc" 2 "plan before the first apply"
assert_grep "+ create e2e/base" "$T/out"
am_rc rc apply run.yaml; assert_rc "$rc" 0 "first apply"
assert_grep "args: \['--lr', '0.1'\]" "$T/out"
assert_grep "Completed" "$T/err"
id=$(run_ids); [ "$(echo "$id" | wc -l)" = 1 ] || fail "expected one run, got: $id"
rj=$(run_json "$id")
[ "$(json_get "$rj" status)" = Completed ] || fail "status not Completed"
[ "$(json_get "$rj" exit_code)" = 0 ] || fail "exit code not 0"
python3 - "$rj" "$(git rev-parse HEAD)" <<'PY' || fail "git provenance"
import json, sys
d = json.load(open(sys.argv[1]))
p = d["properties"]
assert p["azureml.git.commit"] == sys.argv[2], p
assert p["mlflow.source.git.commit"] == sys.argv[2], p
assert p["azureml.git.branch"] == "main", p
assert p["azureml.git.repository_uri"] == "https://example.invalid/team/project.git", p
assert p["azureml.git.dirty"] == "False", p
assert d["outputs"][0]["path"] == "result.json", d["outputs"]
assert d["metrics_count"] == 1
PY
[ -f "$WS/.amlspec/runs/$id/wd/outputs/result.json" ] || fail "outputs kept"
git -C "$WS/.amlspec/snapshots.git" cat-file -e "refs/amlspec/runs/$id^{tree}" || fail "snapshot anchored"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["format_version"]==1 and d["serial"]>=1 and "e2e/base" in d["specs"]' \
	"$WS/.amlspec/state.json" || fail "state.json"
pass "first apply"

am_rc rc apply run.yaml; assert_rc "$rc" 0 "second apply"
assert_grep "No changes" "$T/out"
[ "$(run_ids | wc -l)" = 1 ] || fail "second apply started a run"
am_rc rc plan run.yaml; assert_rc "$rc" 0 "plan after apply"
pass "idempotent"

am_rc rc status; assert_rc "$rc" 0 status
assert_grep "$id" "$T/out"; assert_grep "Completed" "$T/out"; assert_grep "No drift" "$T/out"
am_rc rc status "$id"; assert_rc "$rc" 0 "status RUN_ID"
assert_grep "accuracy: 0.91" "$T/out"; assert_grep "result.json" "$T/out"; assert_grep "azureml.git.commit" "$T/out"
am_rc rc logs "$id"; assert_rc "$rc" 0 logs
assert_grep "^done" "$T/out"
am_rc rc status --output json; assert_rc "$rc" 0 "status json"
[ "$(json_get "$T/out" format_version)" = 1.0 ] || fail "json envelope"
pass "status, logs"

# A run folder left half-made by an apply killed between mkdir and rename
# (.tmp-<id>) is swept by the next apply, under the lock; real runs stay.
mkdir -p "$WS/.amlspec/runs/.tmp-e2e_1_deadbeef"
printf '{}\n' > "$WS/.amlspec/runs/.tmp-e2e_1_deadbeef/run.json"
am_rc rc apply run.yaml; assert_rc "$rc" 0 "apply with a partial run folder"
[ ! -e "$WS/.amlspec/runs/.tmp-e2e_1_deadbeef" ] || fail "partial run folder not swept"
[ -f "$(run_json "$id")" ] || fail "a real run folder was swept"
pass "partial run folders swept"
