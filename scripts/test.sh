#!/usr/bin/env bash
# The whole test suite: install what is missing, build with -Werror, run every
# test under CTest; then again in an ASan+UBSan build; then the unit and CLI
# tests under valgrind (no leaks, no errors).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh test
jobs=$(nproc)
export TMPDIR=${TMPDIR:-/tmp}
# the test's own pip configuration: no index, no global find-links
export PIP_FIND_LINKS= PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1

echo "== build (-Wall -Wextra -Werror)"
bash scripts/build.sh build
echo "== tests"
ctest --test-dir build -j"$jobs" --output-on-failure

echo "== build with ASan+UBSan"
bash scripts/build.sh build-asan -DAMLSPEC_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
echo "== tests under ASan+UBSan"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	ctest --test-dir build-asan -j"$jobs" --output-on-failure -LE integration

echo "== unit and CLI tests under valgrind"
vg="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect"
AMLSPEC_WRAPPER="$vg" ctest --test-dir build -j"$jobs" --output-on-failure -L cli
export AMLSPEC="$PWD/build/amlspec" AMLSPEC_SOURCE_DIR="$PWD" AMLSPEC_TEST_DATA="$PWD/tests/data" NO_COLOR=1
for t in build/tests/*_test; do
	[ -x "$t" ] || continue
	$vg "$t" >"build/$(basename "$t").valgrind.log" 2>&1 \
		|| { cat "build/$(basename "$t").valgrind.log"; echo "valgrind: $(basename "$t") failed"; exit 1; }
	echo "valgrind clean: $(basename "$t")"
done
echo "== fuzzing (libFuzzer, ${FUZZ_SECONDS:-30}s per target)"
bash scripts/fuzz.sh
echo "all test stages passed"
