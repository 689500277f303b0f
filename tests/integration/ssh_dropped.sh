#!/usr/bin/env bash
# A dropped connection does not lose a run: the supervisor on the host is
# detached from ssh. Killing the ControlMaster and the sshd session processes
# during a run, the run's final status is still recorded (by status
# --refresh, and by an apply that was waiting). A supervisor that dies is
# recorded as Failed, not Running forever.
. "$AMLSPEC_SOURCE_DIR/tests/integration/lib/common.sh"
sshd_start "$T/sshd"
make_ws
write_ssh_workspace
cat >src/ticks.py <<'PY'
import os, sys, time
n = int(sys.argv[1])
for i in range(n):
    print("tick", i, flush=True)
    time.sleep(0.5)
open(os.path.join(os.environ["AMLSPEC_OUTPUTS_DIR"], "finished"), "w").write("yes")
print("finished", flush=True)
PY
for n in a b c; do
	cat >"$n.run.yaml" <<YAML
experiment: drop
name: $n
source_directory: src
script: ticks.py
arguments: [${TICKS:-8}]
target: box
YAML
done
git add -A && git commit -q -m ticks

drop_connection() {
	local s p
	for s in "$AMLSPEC_SSH_CONTROL_DIR"/*; do
		[ -S "$s" ] || continue
		p=$(ssh_master_pid "$s")
		[ -n "$p" ] && kill -KILL "$p"
	done
	# the sshd processes serving this test's sessions (children of its listener)
	for p in $(pgrep -P "$SSHD_PID"); do kill -KILL "$p" 2>/dev/null || true; done
}

am_rc rc apply a.run.yaml --no-wait; assert_rc "$rc" 0 "start a"
a=$(run_named a)
wait_status "$a" Running 20
drop_connection
! ls "$AMLSPEC_SSH_CONTROL_DIR"/* 2>/dev/null | grep -q . || [ -z "$(ssh_master_pid "$(ls "$AMLSPEC_SSH_CONTROL_DIR"/* | head -n 1)")" ] \
	|| fail "the ControlMaster survived"
wait_status "$a" Completed 30
am_rc rc status --refresh; assert_rc "$rc" 0 "status --refresh"
assert_grep "$a.*Completed" "$T/out"
[ "$(json_get "$(run_json "$a")" outputs.0.path)" = finished ] || fail "outputs recorded after the drop"
am_rc rc logs "$a"; assert_rc "$rc" 0 "logs"
assert_grep "^finished" "$T/out"
pass "connection dropped during a run (--no-wait): final status recorded"

"$AMLSPEC" apply b.run.yaml >"$T/b.out" 2>"$T/b.err" &
apply_pid=$!
i=0; until [ -n "$(run_named b)" ] || [ $i -gt 100 ]; do sleep 0.1; i=$((i+1)); done
b=$(run_named b)
i=0; until grep -q "tick 2" "$T/b.out" 2>/dev/null || [ $i -gt 200 ]; do sleep 0.1; i=$((i+1)); done
drop_connection
set +e; wait "$apply_pid"; arc=$?; set -e
[ "$arc" = 0 ] || { cat "$T/b.err"; fail "apply after a dropped connection exited $arc"; }
grep -q "Completed" "$T/b.err" || { cat "$T/b.err"; fail "apply did not report Completed"; }
grep -q "^finished" "$T/b.out" || { cat "$T/b.out"; fail "apply did not stream the end of the log"; }
[ "$(json_get "$(run_json "$b")" status)" = Completed ] || fail "b recorded Completed"
pass "connection dropped while apply waits: apply reconnects, Completed"

am_rc rc apply c.run.yaml --no-wait; assert_rc "$rc" 0 "start c"
c=$(run_named c)
wait_status "$c" Running 20
sp=$(json_get "$REMOTE_WD/runs/$c/run.json" supervisor_pid)
pg=$(json_get "$REMOTE_WD/runs/$c/run.json" pgid)
kill -KILL "$sp"
kill -KILL -- "-$pg" 2>/dev/null || true
am_rc rc status --refresh; assert_rc "$rc" 0 "status --refresh"
assert_grep "$c.*Failed" "$T/out"
assert_grep "supervisor process died" "$(run_json "$c")"
pass "a dead supervisor: Failed, not Running forever"
