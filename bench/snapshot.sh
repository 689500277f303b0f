#!/usr/bin/env bash
# Snapshot benchmark: amlspec's snapshot module against plain git on the same
# generated tree, in the same run (so both see the same disk and page cache).
#
#   bench/snapshot.sh                  # BUILD=./build, 3 repetitions
#   BUILD=/path/to/build REPS=5 bench/snapshot.sh
#   BENCH_DIR=/some/dir bench/snapshot.sh   # where the tree and stores go
#
# Measures (median of REPS, wall clock; peak RSS from /usr/bin/time):
#   first    amlspec snapshot into an empty store   vs  git add -A && git write-tree (empty GIT_DIR)
#   same     amlspec re-snapshot, nothing changed    vs  git status
#   ten      amlspec re-snapshot, 10 files changed   vs  git add -A && git write-tree
# Targets (issue): first <= 1.2x git, same <= 2x git status, peak RSS < 30 MB.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
build=${BUILD:-$repo/build}
reps=${REPS:-3}
lib=$build/libamlspec_core.a
[ -f "$lib" ] || { echo "no $lib: build first (cmake --build build), or set BUILD" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (GNU time) for peak RSS" >&2; exit 1; }

work=${BENCH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/amlspec-bench.XXXXXX")}
mkdir -p "$work"
cleanup() { [ -n "${BENCH_DIR:-}" ] || rm -rf "$work"; }
trap cleanup EXIT

# The module has no verb yet: a small driver linked against the core library.
driver=$work/snapshot_driver
# shellcheck disable=SC2046
cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -I"$repo/src" -o "$driver" \
	"$here/snapshot_driver.c" "$lib" $(pkg-config --cflags --libs libgit2 json-c yaml-0.1 libcurl libcrypto)

src=$work/src
store=$work/store.git
scratch=$work/scratch.git
rm -rf "$src"
python3 "$here/gen_tree.py" "$src"
# git must not read the benchmarking user's settings either
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null

now_ns() { date +%s%N; }
# run LABEL CMD...: appends "seconds rss_kb" to $work/LABEL; prints stdout of CMD to $work/out
run() {
	local label=$1; shift
	local t0 t1
	t0=$(now_ns)
	/usr/bin/time -f "%M" -o "$work/rss" "$@" >"$work/out" 2>"$work/err" || {
		cat "$work/err" >&2; echo "failed: $*" >&2; exit 1; }
	t1=$(now_ns)
	echo "$(( (t1 - t0) / 1000 )) $(tail -n1 "$work/rss")" >>"$work/$label"
}
git_first() { rm -rf "$scratch"; git init -q --bare "$scratch"; git_write; }
git_write() { GIT_DIR=$scratch GIT_WORK_TREE=$src git add -A && GIT_DIR=$scratch GIT_WORK_TREE=$src git write-tree; }
git_status() { GIT_DIR=$scratch GIT_WORK_TREE=$src git status >/dev/null; }
export -f git_first git_write git_status
export scratch src
tree_of_git() { cat "$work/out"; }
tree_of_aml() { awk '{print $2}' "$work/out"; }

rm -f "$work"/{aml_first,git_first,aml_same,git_same,aml_ten,git_ten}
for rep in $(seq 1 "$reps"); do
	rm -rf "$store"
	# alternate who goes first, so neither always gets the warmer cache
	if [ $((rep % 2)) -eq 1 ]; then
		run git_first bash -c git_first; g=$(tree_of_git)
		run aml_first "$driver" "$store" "$src"; a=$(tree_of_aml)
	else
		run aml_first "$driver" "$store" "$src"; a=$(tree_of_aml)
		run git_first bash -c git_first; g=$(tree_of_git)
	fi
	[ "$a" = "$g" ] || { echo "tree ids differ: amlspec $a, git $g" >&2; exit 1; }
	for _ in 1 2 3; do
		run git_same bash -c git_status
		run aml_same "$driver" "$store" "$src"
	done
	[ "$(tree_of_aml)" = "$g" ] || { echo "unchanged re-snapshot gave another tree" >&2; exit 1; }
	for i in $(seq 0 9); do
		printf '# change %d\n' "$rep" >>"$src/pkg00$((i % 10))/sub$i/file00$i.py"
	done
	run git_ten bash -c git_write; g=$(tree_of_git)
	run aml_ten "$driver" "$store" "$src"; a=$(tree_of_aml)
	[ "$a" = "$g" ] || { echo "tree ids differ after 10 changes: amlspec $a, git $g" >&2; exit 1; }
done

median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
col() { awk -v c="$2" '{print $c}' "$work/$1" | median; }
ms() { awk -v us="$1" 'BEGIN {printf "%8.1f ms", us / 1000}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%5.2fx", a / b}'; }

# driver output: tree ID files N bytes N seconds S maxrss_kb K
files=$(awk '{print $4}' "$work/out")
mb=$(awk '{printf "%.1f", $6 / 1e6}' "$work/out")
echo
echo "snapshot: $files files, $mb MB (ignored: outputs/ 5 MB, debug.log); $reps repetitions, median wall time"
printf '%-34s %s   %-30s %s   %s\n' "amlspec" "" "git" "" "ratio"
for pair in "first:first snapshot, empty store:git add -A && write-tree" \
	    "same:re-snapshot, no change:git status" \
	    "ten:re-snapshot, 10 files changed:git add -A && write-tree"; do
	key=${pair%%:*}; rest=${pair#*:}; what=${rest%%:*}; gwhat=${rest#*:}
	a=$(col "aml_$key" 1); g=$(col "git_$key" 1)
	printf '%-34s %s   %-30s %s   %s\n' "$what" "$(ms "$a")" "$gwhat" "$(ms "$g")" "$(ratio "$a" "$g")"
done
rss=$(cat "$work"/aml_first "$work"/aml_same "$work"/aml_ten | awk '{print $2}' | sort -n | tail -n1)
grss=$(cat "$work"/git_first "$work"/git_same "$work"/git_ten | awk '{print $2}' | sort -n | tail -n1)
echo "peak RSS: amlspec $(awk -v k="$rss" 'BEGIN {printf "%.1f MB", k / 1024}'), git $(awk -v k="$grss" 'BEGIN {printf "%.1f MB", k / 1024}')"
