#!/usr/bin/env bash
# plan names every reason for a new run: a code change, an argument change,
# an environment change (with the package difference), ignore files honoured.
. "$(dirname "$0")/lib.sh"
make_ws
make_wheelhouse
cat >run.yaml <<'YAML'
experiment: e2e
name: base
source_directory: src
script: train.py
arguments: [--lr, 0.1]
environment:
  python:
    pip_packages: [amlspec_tinypkg==0.1.0]
YAML
printf 'scratch/\n*.tmp\n' >src/.amlignore
mkdir -p src/scratch && echo junk >src/scratch/big.bin && echo x >src/notes.tmp
am_rc rc apply run.yaml; assert_rc "$rc" 0 "first apply"
grep -q "environment.*cached" "$T/err" && { cat "$T/err"; fail "first build cannot be cached"; }
id1=$(run_ids)
[ ! -e "$WS/.amlspec/runs/$id1/wd/scratch" ] || fail ".amlignore'd folder was snapshotted"
[ ! -e "$WS/.amlspec/runs/$id1/wd/notes.tmp" ] || fail ".amlignore'd file was snapshotted"
pass "ignore files honoured"

# ignored files changing is not a reason
echo more >>src/scratch/big.bin
am_rc rc plan run.yaml; assert_rc "$rc" 0 "ignored change"

# code change
echo '# tweak' >>src/train.py
echo 'x = 1' >src/helper.py
am_rc rc plan run.yaml; assert_rc "$rc" 2 "code change"
assert_grep "~ rerun e2e/base" "$T/out"
assert_grep "source changed: 1 added, 1 modified, 0 removed" "$T/out"
assert_grep "M train.py" "$T/out"
assert_grep "A helper.py" "$T/out"
pass "plan: code change"
git checkout -q src/train.py && rm src/helper.py

# argument change
sed -i 's/--lr, 0.1/--lr, 0.2/' run.yaml
am_rc rc plan run.yaml; assert_rc "$rc" 2 "argument change"
assert_grep 'arguments: \["--lr","0.1"\] -> \["--lr","0.2"\]' "$T/out"
am_rc rc plan run.yaml --output json; assert_rc "$rc" 2 "json plan"
[ "$(json_get "$T/out" resource_changes.0.fields.0.path)" = arguments ] || fail "json field path"
[ "$(json_get "$T/out" resource_changes.0.actions.0)" = update ] || fail "json action"
pass "plan: argument change"
sed -i 's/--lr, 0.2/--lr, 0.1/' run.yaml

# environment change
sed -i 's/amlspec_tinypkg==0.1.0/amlspec_tinypkg==0.2.0/' run.yaml
am_rc rc plan run.yaml; assert_rc "$rc" 2 "env change"
assert_grep "environment resolves differently" "$T/out"
assert_grep "pip: amlspec_tinypkg==0.1.0 -> amlspec_tinypkg==0.2.0" "$T/out"
pass "plan: environment change"
am_rc rc apply run.yaml; assert_rc "$rc" 0 "apply env change"
id2=$(run_ids | grep -v "$id1")
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert "environment resolves differently" in " ".join(d["reasons"])' "$(run_json "$id2")" || fail "reasons recorded"

# back to 0.1.0: that environment is cached
sed -i 's/amlspec_tinypkg==0.2.0/amlspec_tinypkg==0.1.0/' run.yaml
am_rc rc apply run.yaml; assert_rc "$rc" 0 "apply cached env"
assert_grep "cached" "$T/err"
id3=$(run_ids | grep -v -e "$id1" -e "$id2")
[ "$(json_get "$(run_json "$id3")" env_reused)" = True ] || [ "$(json_get "$(run_json "$id3")" env_reused)" = true ] || fail "env reused"
pass "inline environment from a wheelhouse, reused from cache"
