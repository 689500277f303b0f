#!/usr/bin/env bash
# The azureml target against the loopback emulator: plan checks the workspace
# and compute; the first apply uploads the snapshot as a code version,
# registers the inline environment and submits the job, which runs to
# Completed; a second apply does nothing; --rerun reuses code and environment
# without sending a byte; a changed file uploads a new code version. Every
# request matches the published specification (the emulator rejects others).
. "$(dirname "$0")/lib.sh"
. "$AMLSPEC_SOURCE_DIR/tests/azureml/e2e_lib.sh"
start_emulator
make_azws
export AZURE_ACCESS_TOKEN="$TOKEN"

am_rc rc plan run.yaml; assert_rc "$rc" 2 "plan"
assert_grep "workspace ml-ws and compute cpu-cluster found (credentials: AZURE_ACCESS_TOKEN)" "$T/err"
assert_grep "+ create e2e/cloud" "$T/out"
pass "plan checks the workspace and compute"

am_rc rc apply run.yaml; assert_rc "$rc" 0 "first apply"
assert_grep "uploading snapshot" "$T/err"
assert_grep "uploaded 3 files" "$T/err"
assert_grep "registered environment amlspec:" "$T/err"
assert_grep "Completed" "$T/err"
[ "$(emu_stat put_blob)" = 3 ] || fail "3 files uploaded, emulator saw $(emu_stat put_blob)"
[ "$(emu_stat code_versions_created)" = 1 ] || fail "one code version"
[ "$(emu_stat environment_versions_created)" = 1 ] || fail "one environment version"
[ "$(emu_stat jobs_created)" = 1 ] || fail "one job"
assert_no_rejects "first apply"
id=$(run_ids); rj=$(run_json "$id")
python3 - "$rj" "$(git rev-parse HEAD)" <<'PY' || fail "run record"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["status"] == "Completed", d["status"]
a = d["azureml"]
assert a["code_reused"] is False and a["files_uploaded"] == 3, a
assert a["environment_registered"] is True, a
assert a["job_name"] == d["run_id"]
assert a["remote_status"] == "Completed"
assert d["studio_url"].startswith("https://ml.azure.com/runs/" + d["run_id"]), d.get("studio_url")
assert d["properties"]["azureml.git.commit"] == sys.argv[2]
PY
# what the job was given, as the emulator stored it
emu "jobs/$id" >"$T/job.json"
python3 - "$T/job.json" "$id" <<'PY' || fail "job body"
import json, sys
j = json.load(open(sys.argv[1]))["body"]["properties"]
assert j["command"] == "python train.py --lr 0.1 'it'\\''s fine'", j["command"]
assert j["limits"] == {"jobLimitsType": "Command", "timeout": "PT2H"}, j["limits"]
assert j["resources"] == {"instanceCount": 1}, j["resources"]
assert j["environmentVariables"]["EPOCHS"] == "3"
assert j["environmentVariables"]["AMLSPEC_RUN_ID"] == sys.argv[2]
assert j["experimentName"] == "e2e" and j["displayName"] == "cloud"
assert j["environmentId"].endswith("/environments/amlspec/versions/" + j["environmentId"][-32:])
assert "/codes/amlspec-e2e/versions/" in j["codeId"]
assert j["properties"]["ContentSnapshotId"] == j["codeId"].rsplit("/", 1)[1]
assert j["properties"]["azureml.git.repository_uri"] == "https://example.invalid/team/project.git"
PY
assert_grep "status Starting (amlspec: Preparing)" "$WS/.amlspec/runs/$id/driver.log"
assert_grep "studio: https://ml.azure.com/runs/$id" "$WS/.amlspec/runs/$id/driver.log"
pass "first apply uploads, registers, submits and follows the job to Completed"

am_rc rc logs "$id"; assert_rc "$rc" 0 "logs"
assert_grep "status Running" "$T/out"; assert_grep "status Completed" "$T/out"
am_rc rc status "$id" --output json; assert_rc "$rc" 0 "status json"
[ "$(json_get "$T/out" run.studio_url)" = "$(json_get "$rj" studio_url)" ] || fail "status --output json shows the studio URL"
[ "$(json_get "$T/out" run.status)" = Completed ] || fail "status"
pass "logs show the status transitions; status the studio URL"

am_rc rc apply run.yaml; assert_rc "$rc" 0 "second apply"
assert_grep "No changes" "$T/out"
[ "$(emu_stat jobs_created)" = 1 ] || fail "second apply submitted a job"
am_rc rc apply --rerun run.yaml; assert_rc "$rc" 0 "apply --rerun"
assert_grep "nothing to upload" "$T/err"
[ "$(emu_stat put_blob)" = 3 ] || fail "--rerun uploaded files"
[ "$(emu_stat put_block)" = 0 ] || fail "--rerun uploaded blocks"
[ "$(emu_stat code_versions_created)" = 1 ] || fail "--rerun created a code version"
[ "$(emu_stat environment_versions_created)" = 1 ] || fail "--rerun registered the environment again"
[ "$(emu_stat jobs_created)" = 2 ] || fail "--rerun submits a new job"
assert_no_rejects "rerun"
pass "re-apply: nothing uploaded, nothing registered again"

printf 'def helper():\n    return 43\n' >src/util.py
git commit -qam "change util"
am_rc rc plan run.yaml; assert_rc "$rc" 2 "plan after a change"
assert_grep "source changed" "$T/out"
am_rc rc apply run.yaml; assert_rc "$rc" 0 "apply after a change"
[ "$(emu_stat code_versions_created)" = 2 ] || fail "a new code version for the new snapshot"
[ "$(emu_stat environment_versions_created)" = 1 ] || fail "the unchanged environment is not registered again"
assert_no_rejects "changed source"
pass "a changed file makes a new code version, the environment is reused"

# a job that fails on Azure ML: apply exits 1 and says where to look
sed -i 's/^arguments: .*/arguments: [EMULATOR_FAIL]/' run.yaml
am_rc rc apply run.yaml; assert_rc "$rc" 1 "failing job"
assert_grep "Failed in .*: the Azure ML job failed; its logs are in the studio: https://ml.azure.com/runs/" "$T/err"
assert_no_rejects "failing job"
pass "a failed job is reported with its studio URL"

# curated environments are referenced, never registered (registry form by default)
cat >curated.run.yaml <<'EOF'
experiment: e2e
name: curated
source_directory: src
script: train.py
environment: AzureML-sklearn-0.24-ubuntu18.04-py37-cpu@9
target: cloud
framework: pytorch
distribution: {node_count: 2, process_count_per_node: 2}
EOF
am_rc rc apply curated.run.yaml; assert_rc "$rc" 0 "curated"
cid=$(ls -t "$WS/.amlspec/runs" | head -1)
emu "jobs/$cid" >"$T/job2.json"
python3 - "$T/job2.json" <<'PY' || fail "curated job body"
import json, sys
j = json.load(open(sys.argv[1]))["body"]["properties"]
assert j["environmentId"] == "azureml://registries/azureml/environments/AzureML-sklearn-0.24-ubuntu18.04-py37-cpu/versions/9", j["environmentId"]
assert j["distribution"] == {"distributionType": "PyTorch", "processCountPerInstance": 2}, j["distribution"]
assert j["resources"]["instanceCount"] == 2
assert "AZUREML_CONDA_ENVIRONMENT_PATH" not in j["environmentVariables"]
PY
[ "$(emu_stat environment_versions_created)" = 1 ] || fail "a curated environment is not registered"
assert_no_rejects "curated"
pass "curated environment by registry id, PyTorch distribution"
