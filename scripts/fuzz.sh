#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan) and runs each for a while,
# seeded from the test corpus. FUZZ_SECONDS per target (default 30).
# A crash leaves its input in build-fuzz/crashes/ and fails the script; add it
# to tests/fuzz/regressions/<target>/ so it is replayed forever after.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${FUZZ_SECONDS:-30}
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DAMLSPEC_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j"$(nproc)" >/dev/null
mkdir -p build-fuzz/crashes
seed() { # target -> seed folder
	local t=$1 d="build-fuzz/corpus/$1"
	mkdir -p "$d"
	case $t in
	fuzz_spec|fuzz_workspace)
		find tests/schema/corpus tests/cases specs tests/data -name '*.yaml' -size -64k 2>/dev/null | head -2000 |
			while read -r f; do cp "$f" "$d/$(sha1sum "$f" | cut -c1-16)"; done ;;
	fuzz_lockfile)
		printf 'version: 1\nenvironments:\n  X:\n    version: 3\n    digest: sha256:00\n' >"$d/lock1" ;;
	fuzz_files)
		printf '{"format_version": 1, "lineage": "x", "serial": 2, "specs": {}}\n' >"$d/state1"
		printf '{"kind": "amlspec-saved-plan", "entries": [{"file": "/x"}]}\n' >"$d/plan1"
		printf '{"run_id": "r", "status": "Running", "pgid": 5}\n' >"$d/run1" ;;
	esac
	if [ -d "tests/fuzz/regressions/$t" ]; then cp tests/fuzz/regressions/"$t"/* "$d/" 2>/dev/null || true; fi
	echo "$d"
}
total=0
for bin in build-fuzz/tests/fuzz/fuzz_*; do
	t=$(basename "$bin")
	corpus=$(seed "$t")
	# replay the regressions first (exact inputs that once crashed)
	if [ -d "tests/fuzz/regressions/$t" ]; then "$bin" tests/fuzz/regressions/"$t"/* >/dev/null 2>&1; fi
	log="build-fuzz/$t.log"
	if ! ASAN_OPTIONS=detect_leaks=1 "$bin" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=1024 -print_final_stats=1 \
		-artifact_prefix="build-fuzz/crashes/$t-" "$corpus" >"$log" 2>&1; then
		tail -40 "$log"; echo "fuzz: $t found a crash (build-fuzz/crashes/)"; exit 1
	fi
	execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
	[ -n "$execs" ] || execs=$(grep -oE '#[0-9]+' "$log" | tail -1 | tr -d '#')
	echo "fuzz: $t: ${execs:-?} executions in ${secs}s, no crash"
	total=$((total + ${execs:-0}))
done
echo "fuzz: all targets clean ($total executions)"
