#!/usr/bin/env bash
# Runs one CLI case directory (after curl's tests/data/testNNNN):
#   args        the command line after `amlspec`, one argument per line (no shell)
#   files/      copied into a fresh working directory, which is the cwd
#   setup.sh    optional: run (with bash) in the working directory first
#   stdout      expected standard output (optional; exact match)
#   stderr      expected standard error (optional; exact match)
#   exit        expected exit code (default 0)
#   env         optional: VAR=value lines added to the environment
# In expected files @WORK@ stands for the working directory.
# AMLSPEC_WRAPPER (e.g. "valgrind --error-exitcode=99 ...") wraps the binary.
set -u
case_dir=$1
name=$(basename "$case_dir")
: "${AMLSPEC:?AMLSPEC must name the binary}"
work=$(mktemp -d "${TMPDIR:-/tmp}/amlspec-case-$name.XXXXXX")
trap 'rm -rf "$work"' EXIT
if [ -d "$case_dir/files" ]; then cp -a "$case_dir/files/." "$work/"; fi
cd "$work" || exit 1
if [ -f "$case_dir/setup.sh" ]; then
	bash "$case_dir/setup.sh" >"$work/.setup.log" 2>&1 || { echo "setup failed:"; cat "$work/.setup.log"; exit 1; }
fi
args=()
while IFS= read -r line || [ -n "$line" ]; do args+=("$line"); done <"$case_dir/args"
envs=()
if [ -f "$case_dir/env" ]; then
	while IFS= read -r line || [ -n "$line" ]; do [ -n "$line" ] && envs+=("$line"); done <"$case_dir/env"
fi
wrapper=()
if [ -n "${AMLSPEC_WRAPPER:-}" ]; then read -r -a wrapper <<<"$AMLSPEC_WRAPPER"; fi
env ${envs[@]+"${envs[@]}"} ${wrapper[@]+"${wrapper[@]}"} "$AMLSPEC" "${args[@]}" >"$work/.out" 2>"$work/.err"
rc=$?
want_rc=0
[ -f "$case_dir/exit" ] && want_rc=$(tr -d '[:space:]' <"$case_dir/exit")
fail=0
if [ "$rc" != "$want_rc" ]; then
	echo "FAIL $name: exit code $rc, expected $want_rc"
	fail=1
fi
for stream in stdout stderr; do
	[ -f "$case_dir/$stream" ] || continue
	got="$work/.out"; [ "$stream" = stderr ] && got="$work/.err"
	sed "s|@WORK@|$work|g" "$case_dir/$stream" >"$work/.want"
	if ! diff -u "$work/.want" "$got" >"$work/.diff"; then
		echo "FAIL $name: $stream differs"
		cat "$work/.diff"
		fail=1
	fi
done
if [ $fail -ne 0 ]; then
	echo "--- stdout"; cat "$work/.out"; echo "--- stderr"; cat "$work/.err"
	exit 1
fi
echo "ok $name"
