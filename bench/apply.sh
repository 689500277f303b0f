#!/usr/bin/env bash
# Workspace benchmarks, each against a baseline measured in the same run:
#  - plan on an unchanged 10,000-file / 50 MB tree   vs  git status on it
#  - apply overhead with a cached environment         vs  python3 script.py
#  - peak memory (max RSS) of plan and apply
# Usage: bench/apply.sh [BUILD_DIR]   (default: build). Not a test: prints figures.
set -euo pipefail
cd "$(dirname "$0")/.."
am="$PWD/${1:-build}/amlspec"
[ -x "$am" ] || { echo "build first: $am missing" >&2; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export XDG_CACHE_HOME="$T/cache" NO_COLOR=1
now() { date +%s.%N; }
best_of() { # best_of N cmd... -> best wall seconds
	local n=$1; shift; local best=999
	for _ in $(seq "$n"); do
		local a b; a=$(now); "$@" >/dev/null 2>&1 || true; b=$(now)
		best=$(python3 -c "print(min($best, $b - $a))")
	done
	echo "$best"
}
maxrss_kb() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }

echo "== generating a 10,000-file, 50 MB tree"
mkdir -p "$T/ws/src"
python3 - "$T/ws/src" <<'PY'
import os, sys, random
root = sys.argv[1]
rnd = random.Random(1)
for d in range(100):
    p = os.path.join(root, f"pkg{d:03d}")
    os.makedirs(p, exist_ok=True)
    for f in range(100):
        with open(os.path.join(p, f"file{f:03d}.py"), "wb") as fh:
            fh.write(rnd.randbytes(5000))
with open(os.path.join(root, "train.py"), "w") as fh:
    fh.write("print('ok')\n")
PY
cd "$T/ws"
git init -q . && git config user.email b@x && git config user.name b
printf 'version: 1\n' >amlspec.yaml
printf 'experiment: bench\nname: big\nsource_directory: src\nscript: train.py\n' >run.yaml
printf '.amlspec/\n' >.gitignore
git add -A >/dev/null && git commit -q -m tree

"$am" apply run.yaml >/dev/null 2>&1   # first snapshot + run
plan_t=$(best_of 5 "$am" plan run.yaml)
gs_t=$(best_of 5 git status --porcelain)
printf 'plan, unchanged tree:   %.3f s   git status: %.3f s   ratio %.2fx (target <= 2x)\n' \
	"$plan_t" "$gs_t" "$(python3 -c "print($plan_t/$gs_t)")"
plan_rss=$(maxrss_kb "$am" plan run.yaml || true)
echo "plan peak RSS: $((plan_rss / 1024)) MB (target < 30 MB)"

echo "== apply overhead with a cached environment"
mkdir -p "$T/small/src" && cd "$T/small"
printf 'version: 1\n' >amlspec.yaml
printf 'print("hello")\n' >src/script.py
cat >run.yaml <<'YAML'
experiment: bench
name: overhead
source_directory: src
script: script.py
environment:
  python:
    user_managed_dependencies: true
    interpreter_path: python3
YAML
"$am" apply run.yaml >/dev/null 2>&1
py=$(command -v python3)
apply_t=$(best_of 7 "$am" apply --rerun run.yaml)
raw_t=$(best_of 7 "$py" src/script.py)
printf 'apply --rerun: %.3f s   python3 script.py: %.3f s   overhead %.0f ms (target < 50 ms)\n' \
	"$apply_t" "$raw_t" "$(python3 -c "print(($apply_t-$raw_t)*1000)")"
apply_rss=$(maxrss_kb "$am" apply --rerun run.yaml || true)
echo "apply peak RSS: $((apply_rss / 1024)) MB (target < 30 MB)"
