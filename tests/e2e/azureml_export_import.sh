#!/usr/bin/env bash
# export and import: a spec as an Azure ML CLI v2 command job (checked against
# the published commandJob schema's required fields and types) and as the REST
# body (checked against the REST definitions); the example job files
# (tests/azureml/examples, after Azure/azureml-examples) imported, with
# warnings for what cannot be carried over; and export after import gives
# back an equivalent job.
. "$(dirname "$0")/lib.sh"
. "$AMLSPEC_SOURCE_DIR/tests/azureml/e2e_lib.sh"
$PYY -c 'import yaml' 2>/dev/null || fail "these checks need PyYAML (Debian: python3-yaml)"
check() { $PYY "$AZDIR/jobcheck.py" "$@"; }
EURL=https://management.azure.com  # export makes no request
make_azws
cat >>amlspec.yaml <<EOF
  gpu:
    type: azureml
    subscription_id: "$SUB"
    resource_group: ml-rg
    workspace_name: ml-ws
    compute: gpu-cluster
    instance_type: Standard_NC6
    curated_environments: workspace
  local-ish: {type: ssh, host: 127.0.0.1}
EOF

am_rc rc export --format azureml-job-yaml run.yaml; assert_rc "$rc" 0 "export yaml"
cp "$T/out" "$T/job.yml"
check yaml "$T/job.yml" || fail "the exported YAML breaks the commandJob schema facts"
$PYY - "$T/job.yml" <<'PY' || fail "exported YAML content"
import sys, yaml
j = yaml.safe_load(open(sys.argv[1]))
assert j["$schema"] == "https://azuremlschemas.azureedge.net/latest/commandJob.schema.json"
assert j["type"] == "command"
assert j["command"] == "python train.py --lr 0.1 'it'\\''s fine'", j["command"]
assert j["code"] == "src" and j["compute"] == "azureml:cpu-cluster"
assert j["environment"]["image"] == "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04:latest"
assert j["environment"]["conda_file"]["dependencies"] == ["python=3.11", "pip", {"pip": ["numpy==1.26.4"]}], j["environment"]
assert j["environment_variables"] == {"EPOCHS": "3"}
assert j["limits"] == {"timeout": 7200} and j["resources"] == {"instance_count": 1}
assert j["experiment_name"] == "e2e" and j["display_name"] == "cloud"
assert j["properties"]["azureml.git.branch"] == "main"
PY
pass "export --format azureml-job-yaml"

am_rc rc export --format azureml-rest-json run.yaml; assert_rc "$rc" 0 "export rest"
cp "$T/out" "$T/body.json"
check rest "$T/body.json" || fail "the exported REST body breaks the REST definitions"
python3 - "$T/body.json" <<'PY' || fail "exported REST body"
import json, sys
p = json.load(open(sys.argv[1]))["properties"]
assert p["jobType"] == "Command" and p["limits"] == {"jobLimitsType": "Command", "timeout": "PT2H"}
assert p["codeId"].endswith("/codes/amlspec-e2e/versions/" + p["properties"]["ContentSnapshotId"])
assert p["computeId"].endswith("/workspaces/ml-ws/computes/cpu-cluster")
PY
am_rc rc export --format azureml-rest-json --target gpu run.yaml; assert_rc "$rc" 0 "export --target"
grep -q '"instanceType": "Standard_NC6"' "$T/out" || fail "--target gpu: instance type"
grep -q '/computes/gpu-cluster"' "$T/out" || fail "--target gpu: compute"
pass "export --format azureml-rest-json (and --target)"

am_rc rc export --format azureml-job-yaml --target local-ish run.yaml; assert_rc "$rc" 1 "export to a non-azureml target"
assert_grep "'local-ish' is not an azureml target" "$T/err"
am_rc rc export --format yaml run.yaml; assert_rc "$rc" 64 "unknown format"
am_rc rc export run.yaml; assert_rc "$rc" 64 "no format"
pass "export refuses what it cannot do"

# import every example, then export it again: the same job
cp -r "$AZDIR/examples" "$WS/examples"
cat >>amlspec.yaml <<EOF
  cpu:
    type: azureml
    subscription_id: "$SUB"
    resource_group: ml-rg
    workspace_name: ml-ws
    compute: cpu-cluster
    curated_environments: workspace
  lg:
    type: azureml
    subscription_id: "$SUB"
    resource_group: ml-rg
    workspace_name: ml-ws
    compute: cpu-cluster-lg
EOF
# `cloud` also uses cpu-cluster: import picks the first target with that compute
cd examples
for f in sklearn-iris/job.yml pytorch-cifar-distributed/job.yml tensorflow-mnist-distributed/job.yml \
	tensorflow-horovod-mpi/job.yml dask-nyctaxi/job.yml basics/hello-world-env-var.yml basics/hello-iris-literal.yml; do
	d=$(dirname "$f"); b=$(basename "$f" .yml)
	am_rc rc import "$f"; assert_rc "$rc" 0 "import $f"
	cp "$T/out" "$d/$b.run.yaml"; cp "$T/err" "$T/import-${d//\//-}-$b.err"
	script=$(sed -n 's/^script: //p' "$d/$b.run.yaml")
	src=$(sed -n 's/^source_directory: //p' "$d/$b.run.yaml")
	mkdir -p "$d/$src"; [ -z "$script" ] || printf 'print("placeholder")\n' >"$d/$src/$script"
	am_rc rc validate "$d/$b.run.yaml"; assert_rc "$rc" 0 "validate the import of $f"
	am_rc rc export --format azureml-job-yaml "$d/$b.run.yaml"; assert_rc "$rc" 0 "export the import of $f"
	cp "$T/out" "$d/$b.exported.yml"
	check yaml "$d/$b.exported.yml" || fail "$f: the export breaks the schema facts"
	check equiv "$f" "$d/$b.exported.yml" || fail "$f: export after import is not the same job"
done
pass "export after import gives back the same job, for every example"

# what import said
grep -q '^script: main.py$' sklearn-iris/job.run.yaml || fail "sklearn: script"
grep -q '^environment: AzureML-sklearn-0.24-ubuntu18.04-py37-cpu@9$' sklearn-iris/job.run.yaml || fail "sklearn: environment"
grep -q '^target: cloud$' sklearn-iris/job.run.yaml || fail "sklearn: the target with compute cpu-cluster"
grep -q -- '- "0.8"$' sklearn-iris/job.run.yaml || fail "sklearn: literal inputs in the arguments"
assert_grep "inputs.iris_csv (uri_folder): passed to the script as its path" "$T/import-sklearn-iris-job.err"
grep -q '^framework: pytorch$' pytorch-cifar-distributed/job.run.yaml || fail "pytorch: framework"
grep -q 'process_count_per_node: 2' pytorch-cifar-distributed/job.run.yaml || fail "pytorch: processes"
grep -q '^environment: AzureML-tensorflow-2.4-ubuntu18.04-py37-cuda11-gpu$' tensorflow-horovod-mpi/job.run.yaml || fail "@latest: the catalog's latest"
grep -q 'version: "3.8"' dask-nyctaxi/job.run.yaml || fail "dask: python version from the conda file"
grep -q 'base_image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04' dask-nyctaxi/job.run.yaml || fail "dask: image"
grep -q '^target: lg$' dask-nyctaxi/job.run.yaml || fail "dask: target"
grep -q -- '- bash$' basics/hello-world-env-var.run.yaml || fail "a shell line runs through bash -c"
pass "import carries script, arguments, environments, distribution and targets over"

# warnings for what cannot be carried over
cat >"$T/odd.yml" <<'EOF'
$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
name: fixed-name
command: python run.py --data ${{inputs.data}} --out ${{outputs.model}}
code: .
inputs:
  data: {type: uri_folder, path: azureml:mydata:3, mode: download}
  unused: 5
outputs:
  model: {type: uri_folder, mode: upload}
environment:
  build: {path: docker-context}
identity: {type: user_identity}
services: {jupyter: {job_service_type: jupyter_lab}}
resources: {instance_count: 1, shm_size: 8g, instance_type: Standard_D2}
compute: azureml:nowhere
queue_settings: {job_tier: spot}
EOF
printf 'x = 1\n' >"$T/run.py"
am_rc rc import "$T/odd.yml"; assert_rc "$rc" 0 "import with warnings"
for w in "name: job names are given per run by amlspec" "inputs.data (uri_folder, mode download): passed to the script as its path 'azureml:mydata:3'" \
	"inputs.unused is not used in the command" "\${{outputs.model}} becomes outputs/model" "outputs: named outputs are not carried over" \
	"environment.build: a Docker build context is not carried over" "identity: not carried over" "services: interactive services" \
	"resources.shm_size: not carried over" "resources.instance_type: a property of the target" "compute: no azureml target" \
	"queue_settings: not carried over"; do
	assert_grep "$w" "$T/err"
done
cat >"$T/sweep.yml" <<'EOF'
type: sweep
trial: {command: python x.py}
EOF
am_rc rc import "$T/sweep.yml"; assert_rc "$rc" 1 "a sweep job"
assert_grep "type: sweep jobs are not imported" "$T/err"
pass "import warns about everything it cannot carry over, refuses what is not a command job"
