#!/usr/bin/env bash
# validate spreads spec loading over threads beyond 32 specs: the result must
# not depend on it. 300 specs in 12 folders, one in five broken in a
# different way, checked with 1, 2 and 8 threads: the same text, the same
# JSON, the same exit code, every error present once; plus a catalog that
# fails to load, whose problem must be reported once, not once per thread.
source "$(dirname "$0")/lib.sh"
mkdir -p "$WS/src"
cd "$WS"
git init -q .
printf 'print("hi")\n' > src/train.py
printf 'version: 1\n' > amlspec.yaml
python3 - <<'PY'
import os
for d in range(12):
    os.makedirs(f"exp{d:02d}", exist_ok=True)
for i in range(300):
    d = f"exp{i % 12:02d}"
    broken = i % 5
    lines = [f"experiment: e{i % 12}", f"name: run-{i:03d}", "source_directory: ../src"]
    lines.append("script: train.py" if broken != 1 else "script: missing.py")
    lines.append("environment: AzureML-Minimal" if broken != 2 else "environment: AzureML-Minimall")
    if broken == 3:
        lines.append("framwork: python")
    if broken == 4 and i % 10 == 4:
        lines.append("limits:\n  timeout: 3 fortnights")
    open(f"{d}/r{i:03d}.run.yaml", "w").write("\n".join(lines) + "\n")
PY
for n in 1 2 8; do
	set +e
	AMLSPEC_THREADS=$n "$AMLSPEC" validate . > "$T/text.$n" 2>&1; echo $? > "$T/rc.$n"
	AMLSPEC_THREADS=$n "$AMLSPEC" validate --output json . > "$T/json.$n" 2>/dev/null
	set -e
done
for n in 2 8; do
	cmp -s "$T/text.1" "$T/text.$n" || { diff "$T/text.1" "$T/text.$n" | head; fail "text output differs with $n threads"; }
	cmp -s "$T/json.1" "$T/json.$n" || fail "JSON output differs with $n threads"
	cmp -s "$T/rc.1" "$T/rc.$n" || fail "exit code differs with $n threads"
done
[ "$(cat "$T/rc.1")" = 1 ] || fail "broken specs must exit 1"
missing=$(grep -c "script: 'missing.py' does not exist" "$T/text.1" || true)
[ "$missing" = 60 ] || fail "expected 60 missing-script errors, got $missing"
unknown=$(grep -c "unknown curated environment 'AzureML-Minimall'" "$T/text.1" || true)
[ "$unknown" = 60 ] || fail "expected 60 unknown-environment errors, got $unknown"
typo=$(grep -c "did you mean 'framework'" "$T/text.1" || true)
[ "$typo" = 60 ] || fail "expected 60 misspelt-key errors, got $typo"
dur=$(grep -c "limits.timeout" "$T/text.1" || true)
[ "$dur" = 30 ] || fail "expected 30 duration errors, got $dur"
python3 - "$T/json.8" <<'PY' || fail "JSON diagnostics not in file order"
import json, sys
d = json.load(open(sys.argv[1]))
keys = [(x["file"], x.get("line") or 0, x.get("column") or 0) for x in d["diagnostics"]]
assert keys == sorted(keys), "unsorted"
assert len(d["diagnostics"]) == 210, len(d["diagnostics"])
PY
pass "300 specs: identical output with 1, 2 and 8 threads"

# A team catalog with a broken entry: its error is reported once.
mkdir -p catalog
printf 'name: Team-Env\nversions:\n  - version: one\n' > catalog/team.yaml
printf 'version: 1\ncatalogs:\n  - catalog\n' > amlspec.yaml
for n in 1 8; do
	set +e
	AMLSPEC_THREADS=$n "$AMLSPEC" validate . > "$T/cat.$n" 2>&1
	set -e
done
cmp -s "$T/cat.1" "$T/cat.8" || { diff "$T/cat.1" "$T/cat.8" | head; fail "catalog errors differ with 8 threads"; }
n=$(grep -c '^catalog/team.yaml' "$T/cat.8" || true)
[ "$n" -ge 1 ] || { cat "$T/cat.8" | head; fail "the catalog problem is not reported"; }
dups=$(grep '^catalog/team.yaml' "$T/cat.8" | sort | uniq -d | wc -l)
[ "$dups" = 0 ] || fail "a catalog problem is reported more than once"
pass "a broken team catalog is reported once with 8 threads"
