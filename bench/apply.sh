#!/usr/bin/env bash
# Workspace benchmarks, each against a baseline measured in the same run:
#  - plan on an unchanged 10,000-file / 50 MB tree   vs  git status --porcelain on it
#  - apply overhead with a cached environment         vs  python3 script.py
#  - peak memory (max RSS) of plan and apply
# Usage: bench/apply.sh [BUILD_DIR]   (default: build). Not a test: prints figures.
# Environment: RUNS (default 15: best of, after one warm-up run of each).
#
# Timing is Python's time.perf_counter around subprocess.run (as
# bench/validate.sh), not `date` forks, and the two commands of a pair are run
# alternately so that both see the same disk, page cache and CPU frequency.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
case $build in /*) ;; *) build=$PWD/$build ;; esac
am="$build/amlspec"
[ -x "$am" ] || { echo "build first: $am missing" >&2; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export XDG_CACHE_HOME="$T/cache" NO_COLOR=1
runs=${RUNS:-15}
maxrss_kb() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }

# pair LABEL_A LABEL_B -- CMD_A... -- CMD_B...: best of $runs of each,
# alternating; prints "best_a best_b" in seconds. A failing command stops
# the benchmark (plan exits 2 when it has changes: that is accepted).
cat >"$T/pair.py" <<'PY'
import subprocess, sys, time
runs = int(sys.argv[1])
rest = sys.argv[2:]
sep = rest.index("--")
a, b = rest[:sep], rest[sep + 1:]
def once(argv):
    t0 = time.perf_counter()
    r = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    t = time.perf_counter() - t0
    if r.returncode not in (0, 2):
        sys.exit(f"apply.sh: {' '.join(argv)} exited {r.returncode}:\n{r.stderr.decode()[:2000]}")
    return t
once(a); once(b)  # warm-up: page cache, dynamic loader
ta, tb = [], []
for _ in range(runs):
    ta.append(once(a))
    tb.append(once(b))
print(min(ta), min(tb))
PY
pair() { python3 "$T/pair.py" "$runs" "$@"; }

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
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //')"

"$am" apply run.yaml >/dev/null 2>&1   # first snapshot + run
# The files were written moments ago: a snapshot cannot trust their stat data
# yet (racy timestamps), so it is taken again once they are older.
sleep 3
"$am" plan run.yaml >/dev/null 2>&1 || true
read -r plan_t gs_t < <(pair "$am" plan run.yaml -- git status --porcelain)
python3 -c "import sys; p, g = float(sys.argv[1]), float(sys.argv[2]); \
print(f'plan, unchanged tree: {p*1e3:6.1f} ms   git status --porcelain: {g*1e3:6.1f} ms   ' \
      f'ratio {p/g:.2f}x (target <= 1.5x, best of $runs)')" "$plan_t" "$gs_t"
plan_rss=$(maxrss_kb "$am" plan run.yaml || true)
echo "plan peak RSS: $((plan_rss / 1024)) MB (target < 30 MB)"

echo "== apply overhead with a cached environment"
mkdir -p "$T/small/src" && cd "$T/small"
printf 'version: 1\n' >amlspec.yaml
printf 'print("hello")\n' >src/script.py
# The same interpreter on both sides, by its real path: a wrapper such as a
# pyenv shim (a bash script that picks a version) would otherwise be timed too.
py=$(python3 -c 'import os, sys; print(os.path.realpath(sys.executable))')
cat >run.yaml <<YAML
experiment: bench
name: overhead
source_directory: src
script: script.py
environment:
  python:
    user_managed_dependencies: true
    interpreter_path: $py
YAML
"$am" apply run.yaml >/dev/null 2>&1
read -r apply_t raw_t < <(pair "$am" apply --rerun run.yaml -- "$py" src/script.py)
python3 -c "import sys; a, r = float(sys.argv[1]), float(sys.argv[2]); \
print(f'apply --rerun: {a*1e3:6.1f} ms   python3 script.py: {r*1e3:6.1f} ms   overhead {(a-r)*1e3:.0f} ms (target < 50 ms)')" \
	"$apply_t" "$raw_t"
apply_rss=$(maxrss_kb "$am" apply --rerun run.yaml || true)
echo "apply peak RSS: $((apply_rss / 1024)) MB (target < 30 MB)"
