#!/usr/bin/env bash
# Load figures (not a test; tests/e2e/hardening_load.sh checks the same at a
# smaller size):
#  - plan and apply of a sweep of N specs (default 1,000) in one workspace,
#    every run a script that exits at once;
#  - C (default 20) concurrent `apply --lock-timeout 120` processes on one
#    workspace, each applying SPECS_PER specs of a shared set (each spec is
#    named by two of them), then the wall time and whether every spec ran
#    exactly once.
# Usage: bench/load.sh [BUILD_DIR] [N] [C]   (default: build 1000 20)
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
am="$PWD/${1:-build}/amlspec"
N=${2:-1000}
C=${3:-20}
SPECS_PER=${SPECS_PER:-6}
[ -x "$am" ] || { echo "build first: $am missing" >&2; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export XDG_CACHE_HOME="$T/cache" NO_COLOR=1
now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2 - $1:.2f}')"; }

# mkws DIR COUNT PREFIX: a git workspace with COUNT specs PREFIX0000... in sweep/
mkws() {
	mkdir -p "$1/src" "$1/sweep"
	(
		cd "$1"
		git init -q -b main . && git config user.email b@x && git config user.name b
		printf 'version: 1\nworkspace: load\n' >amlspec.yaml
		printf 'import sys\nprint("seed", sys.argv[-1])\n' >src/train.py
		printf '.amlspec/\n' >.gitignore
		python3 - "$2" "$3" <<'PY'
import sys
n, prefix = int(sys.argv[1]), sys.argv[2]
for i in range(n):
    with open(f"sweep/{prefix}{i:04d}.run.yaml", "w") as f:
        f.write(f"experiment: sweep\nname: {prefix}{i:04d}\nsource_directory: ../src\n"
                f"script: train.py\narguments: [--seed, \"{i}\"]\n")
PY
		git add -A && git commit -q -m specs
	)
}

echo "== $N specs in one workspace"
mkws "$T/big" "$N" s
cd "$T/big"
a=$(now); rc=0; "$am" validate sweep >/dev/null 2>&1 || rc=$?; b=$(now)
echo "validate $N specs:          $(secs "$a" "$b") s (exit $rc)"
a=$(now); rc=0; "$am" plan sweep >"$T/plan.out" 2>&1 || rc=$?; b=$(now)
echo "plan $N specs (all new):    $(secs "$a" "$b") s (exit $rc: $(tail -1 "$T/plan.out"))"
a=$(now); rc=0; /usr/bin/time -f '%U %S %M' -o "$T/apply.time" "$am" apply sweep >"$T/apply.out" 2>"$T/apply.err" || rc=$?; b=$(now)
read -r u s m <"$T/apply.time"
echo "apply $N specs:             $(secs "$a" "$b") s (exit $rc: $(tail -1 "$T/apply.err"); apply's own CPU: user $u s, sys $s s, peak RSS $((m / 1024)) MB)"
echo "state.json after:           $(stat -c %s .amlspec/state.json) bytes"
a=$(now); rc=0; "$am" plan sweep >"$T/plan2.out" 2>&1 || rc=$?; b=$(now)
echo "plan $N specs (no change):  $(secs "$a" "$b") s (exit $rc)"
a=$(now); rc=0; "$am" status >/dev/null 2>&1 || rc=$?; b=$(now)
echo "status with $N runs:        $(secs "$a" "$b") s (exit $rc)"
python3 "$src/tests/e2e/hardening_check.py" check "$T/big" --final-from-state --runs-per-address 1

echo "== $C concurrent applies on one workspace ($SPECS_PER specs each, every spec in two of them)"
total=$((C * SPECS_PER / 2))
mkws "$T/conc" "$total" c
cd "$T/conc"
a=$(now)
pids=()
for k in $(seq 0 $((C - 1))); do
	args=()
	for j in $(seq 0 $((SPECS_PER - 1))); do
		args+=("sweep/c$(printf %04d $(((k * SPECS_PER / 2 + j) % total))).run.yaml")
	done
	"$am" --lock-timeout 120 apply "${args[@]}" >"$T/c$k.out" 2>"$T/c$k.err" &
	pids+=($!)
done
fails=0
for p in "${pids[@]}"; do wait "$p" || fails=$((fails + 1)); done
b=$(now)
echo "$C concurrent applies:      $(secs "$a" "$b") s wall, $fails failed"
addrs=$(for i in $(seq 0 $((total - 1))); do printf 'sweep/c%04d ' "$i"; done)
# shellcheck disable=SC2086
python3 "$src/tests/e2e/hardening_check.py" check "$T/conc" --final $addrs --runs-per-address 1
