#!/usr/bin/env bash
# kill -9 of apply at every point where it writes state or starts a run:
# strace kills it at the Nth rename (snapshot index, run.json, state.json and
# its backup), fsync, ftruncate and fcntl (the workspace lock), pipe2, clone
# (the supervisor's fork), wait4 and poll (the wait for the supervisor and
# for the end of the run), N over every call of one apply of two specs.
# (hardening_kill_snapshot.sh sweeps the snapshot's and the writes' calls.) After each kill: status works, state.json parses, no run that
# executed is forgotten by the state, every run ends, and a plain apply
# brings every spec to a Completed run with nothing left to plan.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hardening_lib.bash"
need_strace
make_ws
cat >src/quick.py <<'PY'
import os
print("quick", os.environ["AMLSPEC_RUN_ID"], flush=True)
PY
for n in a b; do
	printf 'experiment: e2e\nname: %s\nsource_directory: src\nscript: quick.py\n' "$n" >"$n.run.yaml"
done
rm run.yaml
am_rc rc apply a.run.yaml b.run.yaml; assert_rc "$rc" 0 "first apply"
# the template: applied once (state, backup, snapshot store, two runs), then
# the source changes, so the apply under test reruns both specs
echo "# v2" >>src/quick.py
tpl="$T/tpl"
mkdir -p "$tpl"
cp -a "$WS" "$tpl/ws"
: >"$T/points"

for sc in rename fsync ftruncate fcntl pipe2 clone wait4 poll; do
	fault_sweep "$tpl" "$sc" 1 "e2e/a e2e/b" a.run.yaml b.run.yaml
done

killed=$(grep -c ' killed ' "$T/points" || true)
total=$(wc -l <"$T/points")
[ "$killed" -ge 35 ] || { cat "$T/points"; fail "only $killed points killed apply"; }
pass "kill -9 of apply at $total points ($killed kills): status works, state valid, nothing forgotten, recovery completes"
