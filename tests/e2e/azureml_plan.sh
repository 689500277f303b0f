#!/usr/bin/env bash
# What plan says for an azureml target before anything runs: a compute or
# workspace that does not exist (checked when credentials exist), secrets
# (refused: their values would be stored in the job definition), pyspark,
# an endpoint that is plain http to a non-loopback host, a subscription that
# is not a GUID.
. "$(dirname "$0")/lib.sh"
. "$AMLSPEC_SOURCE_DIR/tests/azureml/e2e_lib.sh"
start_emulator
make_azws
export AZURE_ACCESS_TOKEN="$TOKEN"
cp amlspec.yaml amlspec.good

sed -i 's/compute: cpu-cluster/compute: nope/' amlspec.yaml
am_rc rc plan run.yaml; assert_rc "$rc" 1 "plan: no such compute"
assert_grep "Azure ML: GET computes/nope: HTTP 404 ResourceNotFound: Compute 'nope' was not found in workspace 'ml-ws'. \[x-ms-request-id" "$T/err"
cp amlspec.good amlspec.yaml; sed -i 's/workspace_name: ml-ws/workspace_name: other-ws/' amlspec.yaml
am_rc rc plan run.yaml; assert_rc "$rc" 1 "plan: no such workspace"
assert_grep "Azure ML: GET workspace: HTTP 404 ResourceNotFound" "$T/err"
cp amlspec.good amlspec.yaml
pass "plan checks that the workspace and the compute exist"

cat >secret.run.yaml <<'EOF'
experiment: e2e
name: secret
source_directory: src
script: train.py
secrets: [WANDB_API_KEY]
target: cloud
EOF
WANDB_API_KEY=value-never-sent am_rc rc plan secret.run.yaml; assert_rc "$rc" 1 "plan: secrets"
assert_grep "secrets: the azureml target refuses secrets (WANDB_API_KEY): their values would be stored in the job definition" "$T/err"
assert_no_grep "value-never-sent" "$T/err"
WANDB_API_KEY=value-never-sent am_rc rc apply secret.run.yaml; assert_rc "$rc" 1 "apply: secrets"
[ "$(emu_stat jobs_created)" = 0 ] || fail "no job with secrets"
rm secret.run.yaml
cat >spark.run.yaml <<'EOF'
experiment: e2e
name: spark
source_directory: src
script: train.py
framework: pyspark
target: cloud
EOF
am_rc rc plan spark.run.yaml; assert_rc "$rc" 1 "plan: pyspark"
assert_grep "framework: pyspark runs as an Azure ML Spark job" "$T/err"
rm spark.run.yaml
pass "secrets and pyspark are refused with the reason"

sed -i "s|endpoint: \"$EURL\"|endpoint: \"http://management.example.com\"|" amlspec.yaml
am_rc rc plan run.yaml; assert_rc "$rc" 1 "plan: plain http to a remote host"
assert_grep "endpoint 'http://management.example.com': plain http:// is accepted only for loopback hosts" "$T/err"
cp amlspec.good amlspec.yaml
sed -i "s|subscription_id: \"$SUB\"|subscription_id: \"my-sub\"|" amlspec.yaml
am_rc rc plan run.yaml; assert_rc "$rc" 1 "plan: subscription"
assert_grep "subscription_id 'my-sub' is not a subscription id (a GUID" "$T/err"
cp amlspec.good amlspec.yaml
[ "$(emu_stat rejected)" = 0 ] || fail "nothing invalid reached the emulator"
pass "endpoint and subscription are checked before any request"
