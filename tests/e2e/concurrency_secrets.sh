#!/usr/bin/env bash
# Two applies at once on one workspace: state valid, nothing lost. Secrets
# reach the script but never state, run records, logs or plan output.
. "$(dirname "$0")/lib.sh"
make_ws
for n in a b c; do
	sed "s/name: base/name: $n/" run.yaml >"$n.run.yaml"
done
rm run.yaml
"$AMLSPEC" apply a.run.yaml b.run.yaml --lock-timeout 60 >"$T/o1" 2>"$T/e1" &
p1=$!
"$AMLSPEC" apply b.run.yaml c.run.yaml --lock-timeout 60 >"$T/o2" 2>"$T/e2" &
p2=$!
wait $p1 || { cat "$T/e1"; fail "first apply"; }
wait $p2 || { cat "$T/e2"; fail "second apply"; }
python3 - "$WS/.amlspec" <<'PY' || fail "state after concurrent applies"
import json, os, sys
d = sys.argv[1]
st = json.load(open(os.path.join(d, "state.json")))
assert set(st["specs"]) == {"e2e/a", "e2e/b", "e2e/c"}, st["specs"].keys()
runs = [json.load(open(os.path.join(d, "runs", r, "run.json"))) for r in os.listdir(os.path.join(d, "runs"))]
by = {}
for r in runs:
    by.setdefault(r["address"], []).append(r)
assert all(len(v) == 1 for v in by.values()), {k: len(v) for k, v in by.items()}
for addr, (r,) in by.items():
    assert st["specs"][addr]["last_run"] == r["run_id"]
    assert r["status"] == "Completed", r
PY
pass "concurrent applies"

secret="s3cr3t-$(date +%s%N)"
cat >src/secret.py <<'PY'
import hashlib, os
v = os.environ["TRAIN_TOKEN"]
print("token length", len(v), flush=True)
open(os.path.join(os.environ["AMLSPEC_OUTPUTS_DIR"], "token.sha"), "w").write(hashlib.sha256(v.encode()).hexdigest())
PY
cat >s.run.yaml <<'YAML'
experiment: e2e
name: secret
source_directory: src
script: secret.py
secrets: [TRAIN_TOKEN]
YAML
am_rc rc apply s.run.yaml; assert_rc "$rc" 1 "secret missing"
assert_grep "TRAIN_TOKEN is not set" "$T/err"
export TRAIN_TOKEN="$secret"
am_rc rc plan s.run.yaml; cp "$T/out" "$T/plan.out"
am_rc rc apply s.run.yaml; assert_rc "$rc" 0 "apply with secret"
cat "$T/out" "$T/err" "$T/plan.out" >"$T/all.out"
assert_no_grep "$secret" "$T/all.out"
assert_no_grep "$secret" "$WS/.amlspec"
want=$(printf %s "$secret" | sha256sum | cut -d' ' -f1)
got=$(cat "$WS"/.amlspec/runs/e2e_*/wd/outputs/token.sha 2>/dev/null | grep -x "$want" || true)
[ -n "$got" ] || fail "the script did not receive the secret"
perm=$(stat -c %a "$WS/.amlspec/state.json"); [ "$perm" = 600 ] || fail "state.json mode $perm"
pass "secrets never written"
