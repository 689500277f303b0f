#!/usr/bin/env bash
# The snapshot's stat cache through the CLI, with its real 2 s racy window:
# an unchanged plan is answered from <store>/amlspec/index-*.stat (which it
# leaves alone) without starting libgit2 (checked under gdb when gdb can
# trace here); a same-size edit with its mtime put back, and a new file in a
# folder holding only ignored files, are still seen.
. "$(dirname "$0")/lib.sh"
make_ws
cat >run.yaml <<'YAML'
experiment: e2e
name: cache
source_directory: src
script: train.py
environment:
  python:
    user_managed_dependencies: true
    interpreter_path: python3
YAML
printf '*.log\n' >src/.gitignore
mkdir -p src/logs && echo noise >src/logs/a.log
am_rc rc apply run.yaml; assert_rc "$rc" 0 "first apply"
store=$WS/.amlspec/snapshots.git
cache() { ls "$store"/amlspec/index-*.stat 2>/dev/null; }
ino() { stat -c %i "$(cache)"; }

# A file changed just now: too recent for a cache. (On a loaded machine the
# plan may start over 2 s after the change; then a cache is right, and the
# recorded start time says so.)
touch src/train.py
am_rc rc plan run.yaml; assert_rc "$rc" 0 "unchanged"
if [ -n "$(cache)" ]; then
	python3 - "$(cache)" src/train.py <<'PY' || fail "a cache was written for a file changed less than 2 s before"
import os, sys
recs = open(sys.argv[1], "rb").read().split(b"\0")
sec, nsec = next(r for r in recs if r.startswith(b"time ")).split()[1:]
started = int(sec) * 10**9 + int(nsec)
sys.exit(0 if started - os.stat(sys.argv[2]).st_ctime_ns >= 2 * 10**9 else 1)
PY
	echo "note: the plan started over 2 s after the change; a cache was right"
fi
sleep 2.2
am_rc rc plan run.yaml; assert_rc "$rc" 0 "unchanged, settled"
[ -n "$(cache)" ] || fail "no cache after a full snapshot of a settled tree"
before=$(ino)
am_rc rc plan run.yaml; assert_rc "$rc" 0 "unchanged, from the cache"
assert_grep "1 spec up to date" "$T/out"
[ "$(ino)" = "$before" ] || fail "an unchanged plan rewrote the cache (not answered from it)"
pass "unchanged plan answered from the stat cache"

if command -v gdb >/dev/null; then
	gdb -q -batch -ex 'set breakpoint pending on' -ex 'break git_libgit2_init' -ex run -ex 'info breakpoints' \
		--args "$AMLSPEC" plan run.yaml >"$T/gdb" 2>&1 || true
	if grep -q "1 spec up to date" "$T/gdb" && grep -q "git_libgit2_init" "$T/gdb"; then
		assert_no_grep "already hit" "$T/gdb"
		pass "an unchanged plan does not start libgit2"
	else
		echo "skipped: gdb cannot trace here"
	fi
fi

# Same size, mtime put back: the ctime still tells.
python3 - src/train.py <<'PY'
import os, sys
p = sys.argv[1]
st = os.stat(p)
data = open(p, "rb").read()
open(p, "wb").write(data.replace(b"done", b"DONE"))
os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
assert os.stat(p).st_size == st.st_size and os.stat(p).st_mtime_ns == st.st_mtime_ns
PY
am_rc rc plan run.yaml; assert_rc "$rc" 2 "same-size edit"
assert_grep "source changed: 0 added, 1 modified, 0 removed" "$T/out"
pass "same-size edit with its mtime put back"
sed -i 's/DONE/done/' src/train.py

sleep 2.2
am_rc rc plan run.yaml; assert_rc "$rc" 0 "reverted"
before=$(ino)
am_rc rc plan run.yaml; assert_rc "$rc" 0 "reverted, from the cache"
[ "$(ino)" = "$before" ] || fail "not answered from the cache"
echo new >src/logs/new.txt
am_rc rc plan run.yaml; assert_rc "$rc" 2 "new file beside ignored ones"
assert_grep "A logs/new.txt" "$T/out"
pass "new file in a folder of ignored files"
