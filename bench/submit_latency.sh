#!/usr/bin/env bash
# Submission latency of the remote targets, each against its raw baseline
# measured in the same run: the time from starting the command until the
# script writes its first timestamp.
#   ssh:    amlspec apply --rerun --no-wait (environment unchanged)
#           vs  ssh HOST python3 script.py               (a fresh connection)
#   ssh:    the same apply after a code change (one file sent)
#   ssh:    the same apply with no ControlMaster left from the previous one
#   slurm:  amlspec apply --rerun --no-wait              vs  sbatch --wrap 'python3 script.py'
# The sshd and the Slurm cluster are started here as the integration tests
# start them (tests/integration/lib), and stopped on exit.
# Usage: bench/submit_latency.sh [BUILD_DIR] [ROUNDS]   (default: build, 7). Not a test: prints figures.
set -euo pipefail
cd "$(dirname "$0")/.."
export AMLSPEC="$PWD/${1:-build}/amlspec" AMLSPEC_SOURCE_DIR="$PWD"
ROUNDS=${2:-7}
[ -x "$AMLSPEC" ] || { echo "build first: $AMLSPEC missing" >&2; exit 1; }
. tests/integration/lib/common.sh
set +x

now() { python3 -c 'import time; print("%.6f" % time.time())'; }
# waits for the stamp file, prints its time minus $1
stamp_delay() {
	local start=$1 f=$2 i=0
	until [ -s "$f" ] || [ $i -gt 600 ]; do sleep 0.01; i=$((i+1)); done
	[ -s "$f" ] || { echo "no stamp in $f" >&2; return 1; }
	python3 -c 'import sys; print("%.3f" % (float(open(sys.argv[2]).read()) - float(sys.argv[1])))' "$start" "$f"
}
median() { python3 -c 'import statistics, sys; v = [float(x) for x in sys.argv[1:]]; print("%.3f" % statistics.median(v))' "$@"; }
kill_masters() {
	local s p
	for s in "$AMLSPEC_SSH_CONTROL_DIR"/*; do
		[ -S "$s" ] || continue
		p=$(ssh_master_pid "$s")
		[ -n "$p" ] && stop_pid "$p"
	done
	return 0
}

sshd_start "$T/sshd"
slurm_start "$T/slurm"
make_ws
write_ssh_workspace "  hpc:
    type: slurm
    work_dir: $T/shared"
STAMP=$T/stamp
cat >src/stamp.py <<'PY'
import sys, time
t = time.time()
with open(sys.argv[1], "w") as f:
    f.write("%.6f" % t)
PY
for t in box hpc; do
	cat >"$t.run.yaml" <<YAML
experiment: bench
name: $t
source_directory: src
script: stamp.py
arguments: [$STAMP]
target: $t
YAML
done
git add -A && git commit -q -m bench
# first runs: the host learns the files and the interpreter
am apply box.run.yaml hpc.run.yaml >/dev/null 2>&1

declare -A R
measure() { # measure NAME command...
	local name=$1; shift
	rm -f "$STAMP"
	local a; a=$(now)
	"$@" >/dev/null 2>&1
	R[$name]="${R[$name]:-} $(stamp_delay "$a" "$STAMP")"
}
# Slurm starts a job on its next scheduling pass, which comes later when a
# job has just ended: every Slurm sample starts from an idle cluster.
slurm_idle() {
	local i=0
	while [ -n "$(squeue -h -o %i 2>/dev/null)" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
	sleep 1
}
for r in $(seq "$ROUNDS"); do
	# the order alternates, so that neither side always comes first
	if [ $((r % 2)) = 1 ]; then
		measure ssh_raw ssh_test python3 "$WS/src/stamp.py" "$STAMP"
		measure ssh_apply am apply box.run.yaml --rerun --no-wait
	else
		measure ssh_apply am apply box.run.yaml --rerun --no-wait
		measure ssh_raw ssh_test python3 "$WS/src/stamp.py" "$STAMP"
	fi
	echo "# round $r" >>src/stamp.py
	git commit -q -am "change $r"
	measure ssh_apply_change am apply box.run.yaml --no-wait
	kill_masters
	measure ssh_apply_cold am apply box.run.yaml --rerun --no-wait
	slurm_idle
	if [ $((r % 2)) = 1 ]; then
		measure slurm_raw sbatch --wrap "python3 $WS/src/stamp.py $STAMP"
		slurm_idle
		measure slurm_apply am apply hpc.run.yaml --rerun --no-wait
	else
		measure slurm_apply am apply hpc.run.yaml --rerun --no-wait
		slurm_idle
		measure slurm_raw sbatch --wrap "python3 $WS/src/stamp.py $STAMP"
	fi
done

printf '\n%-48s %9s %9s\n' "submission latency (start -> script running)" "median s" "ratio"
row() { # row LABEL NAME BASE
	local m b
	m=$(median ${R[$2]})
	b=$(median ${R[$3]})
	printf '%-48s %9s %9s\n' "$1" "$m" "$(python3 -c "print('%.2fx' % ($m / $b))")"
}
row "ssh HOST python3 script.py (baseline)" ssh_raw ssh_raw
row "apply, ssh, unchanged (ControlMaster kept)" ssh_apply ssh_raw
row "apply, ssh, one file changed" ssh_apply_change ssh_raw
row "apply, ssh, no ControlMaster (cold)" ssh_apply_cold ssh_raw
row "sbatch --wrap 'python3 script.py' (baseline)" slurm_raw slurm_raw
row "apply, slurm, unchanged" slurm_apply slurm_raw
echo
echo "rounds: $ROUNDS; every sample (s):"
for k in ssh_raw ssh_apply ssh_apply_change ssh_apply_cold slurm_raw slurm_apply; do
	printf '  %-18s%s\n' "$k" "${R[$k]}"
done
