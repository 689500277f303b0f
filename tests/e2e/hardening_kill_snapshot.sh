#!/usr/bin/env bash
# kill -9 of apply while it takes the snapshot and writes its files: strace
# kills it at every link (libgit2's loose objects and lock files) and fchmod
# (the atomic writes' temporary files), every 3rd unlink, every 8th mkdir and
# write, every 32nd openat (HARDENING_FULL=1: every call), over one apply of
# two specs whose source changed in 12 files. After each kill: status works, state.json parses, no run that
# executed is forgotten, and a plain apply recovers with nothing left to plan.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hardening_lib.bash"
need_strace
make_ws
cat >src/quick.py <<'PY'
print("quick", flush=True)
PY
mkdir -p src/pkg
for i in $(seq 12); do echo "X = $i" >"src/pkg/m$i.py"; done
for n in a b; do
	printf 'experiment: e2e\nname: %s\nsource_directory: src\nscript: quick.py\n' "$n" >"$n.run.yaml"
done
rm run.yaml
am_rc rc apply a.run.yaml b.run.yaml; assert_rc "$rc" 0 "first apply"
for i in $(seq 12); do echo "Y = $i" >>"src/pkg/m$i.py"; done
tpl="$T/tpl"
mkdir -p "$tpl"
cp -a "$WS" "$tpl/ws"
: >"$T/points"

sweep() { fault_sweep "$tpl" "$1" "$2" "e2e/a e2e/b" a.run.yaml b.run.yaml; }
sweep link 1
sweep fchmod 1
sweep unlink 3
sweep mkdir 8
sweep write 8
sweep openat 32

killed=$(grep -c ' killed ' "$T/points" || true)
total=$(wc -l <"$T/points")
[ "$killed" -ge 40 ] || { cat "$T/points"; fail "only $killed points killed apply"; }
grep -q "objects/" "$T/points" || fail "no point inside the snapshot's object writes"
pass "kill -9 of apply during snapshot and file writes at $total points ($killed kills): state valid, recovery completes"
