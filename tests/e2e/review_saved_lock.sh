#!/usr/bin/env bash
# Saved plans are applied exactly, and refused when stale; amlspec.lock pins
# unpinned curated references and `lock --upgrade` moves them on purpose.
. "$(dirname "$0")/lib.sh"
make_ws
am_rc rc plan run.yaml -out "$T/p1.plan"; assert_rc "$rc" 2 "plan -out"
assert_grep "Saved the plan" "$T/out"
am_rc rc apply "$T/p1.plan"; assert_rc "$rc" 0 "apply saved plan"
[ "$(run_ids | wc -l)" = 1 ] || fail "one run expected"
am_rc rc apply "$T/p1.plan"; assert_rc "$rc" 1 "same plan twice"
assert_grep "the state moved since the plan was made" "$T/err"
pass "saved plan applied, then stale"

sed -i 's/--lr, 0.1/--lr, 0.5/' run.yaml
am_rc rc plan run.yaml -out "$T/p2.plan"; assert_rc "$rc" 2 "plan -out 2"
sed -i 's/--lr, 0.5/--lr, 0.6/' run.yaml
am_rc rc apply "$T/p2.plan"; assert_rc "$rc" 1 "spec moved"
assert_grep "the spec file changed since the plan was made" "$T/err"
[ "$(run_ids | wc -l)" = 1 ] || fail "a stale plan started a run"
sed -i 's/--lr, 0.6/--lr, 0.5/' run.yaml
echo "# more" >>src/train.py
am_rc rc apply "$T/p2.plan"; assert_rc "$rc" 1 "source moved"
assert_grep "the source directory changed since the plan was made" "$T/err"
pass "stale saved plans refused"

# lock: an unpinned curated reference
cat >l.run.yaml <<'YAML'
experiment: e2e
name: locked
source_directory: src
script: train.py
environment: AzureML-tensorflow-2.4-ubuntu18.04-py37-cuda11-gpu
YAML
d1=$("$AMLSPEC" envs show AzureML-tensorflow-2.4-ubuntu18.04-py37-cuda11-gpu@1 --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)["environment"]["digest"])')
d14=$("$AMLSPEC" envs show AzureML-tensorflow-2.4-ubuntu18.04-py37-cuda11-gpu@14 --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)["environment"]["digest"])')
cat >amlspec.lock <<LOCK
version: 1
environments:
  AzureML-tensorflow-2.4-ubuntu18.04-py37-cuda11-gpu:
    version: 1
    digest: $d1
LOCK
am_rc rc plan l.run.yaml --output json; assert_rc "$rc" 2 "plan with lock"
[ "$(json_get "$T/out" resource_changes.0.environment.digest)" = "$d1" ] || fail "lock not honoured"
assert_grep "is locked at @1; the catalog has @14" "$T/out"
am_rc rc lock l.run.yaml; assert_rc "$rc" 0 "lock keeps pins"
assert_grep "up to date" "$T/out"
grep -q "version: 1$" amlspec.lock || fail "lock moved without --upgrade"
am_rc rc lock --upgrade l.run.yaml; assert_rc "$rc" 0 "lock --upgrade"
assert_grep "@1 -> @14" "$T/out"
grep -q "version: 14" amlspec.lock || fail "lock not upgraded"
grep -q "$d14" amlspec.lock || fail "digest not upgraded"
am_rc rc plan l.run.yaml --output json; assert_rc "$rc" 2 "plan after upgrade"
[ "$(json_get "$T/out" resource_changes.0.environment.digest)" = "$d14" ] || fail "upgrade not used"
# a catalog whose content changed under the same version is refused
sed -i "s/$d14/sha256:0000000000000000000000000000000000000000000000000000000000000000/" amlspec.lock
am_rc rc plan l.run.yaml; assert_rc "$rc" 1 "digest mismatch"
assert_grep "changed since it was locked" "$T/err"
pass "amlspec.lock"
