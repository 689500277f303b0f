#!/usr/bin/env bash
# An apply killed while it submits: the run is never left "Preparing"
# forever. Killed before the job was created: the next status says the run
# was never submitted (Failed). Killed after Azure ML created the job but
# before the answer came back: the next status finds the job (its name is the
# run id) and follows it.
. "$(dirname "$0")/lib.sh"
. "$AMLSPEC_SOURCE_DIR/tests/azureml/e2e_lib.sh"
start_emulator
make_azws
export AZURE_ACCESS_TOKEN="$TOKEN"

kill_apply_at() { # kill_apply_at REGEX: starts apply, kills it once the emulator is holding REGEX
	"$AMLSPEC" apply run.yaml >"$T/out" 2>"$T/err" &
	local pid=$! i=0
	until emu log | python3 -c 'import json,re,sys; sys.exit(0 if any(re.search(sys.argv[1], e["method"] + " " + e["path"]) for e in json.load(sys.stdin)) else 1)' "$1" 2>/dev/null; do
		sleep 0.1; i=$((i + 1))
		[ $i -lt 150 ] || { kill -9 $pid; cat "$T/err"; fail "apply never reached $1"; }
	done
	kill -9 $pid; wait $pid 2>/dev/null || true
}

# before the job exists: the upload slot is requested, then the apply dies
emu_faults '[{"match": "startPendingUpload", "delay": 3}]'
"$AMLSPEC" apply run.yaml >"$T/out" 2>"$T/err" &
pid=$!
i=0; until [ -n "$(run_ids)" ] && [ -f "$(run_json "$(run_ids)")" ]; do sleep 0.05; i=$((i + 1)); [ $i -lt 200 ] || fail "no run record"; done
sleep 0.5; kill -9 $pid; wait $pid 2>/dev/null || true
id=$(run_ids)
sleep 3.5 # the emulator answers the (now orphaned) request
am_rc rc status "$id" --output json; assert_rc "$rc" 0 "status"
[ "$(json_get "$T/out" run.status)" = Failed ] || fail "a run whose apply died before submitting is Failed, not $(json_get "$T/out" run.status)"
assert_grep "never submitted to Azure ML" "$T/out"
[ "$(emu_stat jobs_created)" = 0 ] || fail "no job"
pass "killed before the job was created: Failed, never submitted"

# after the job exists: Azure ML created it, the answer is late, apply dies
emu_faults '[{"match": "^PUT .*/jobs/", "delay_response": 5}]'
kill_apply_at "^PUT .*/jobs/"
id2=$(ls -t "$WS/.amlspec/runs" | head -1)
[ "$id2" != "$id" ] || fail "a second run"
[ "$(emu_stat jobs_created)" = 1 ] || fail "the job was created"
i=0
while :; do
	am_rc rc status "$id2" --output json; assert_rc "$rc" 0 "status"
	[ "$(json_get "$T/out" run.status)" = Completed ] && break
	sleep 0.2; i=$((i + 1)); [ $i -lt 100 ] || { cat "$T/out"; fail "the found job was not followed to its end"; }
done
assert_grep "found job $id2, submitted by a command that stopped before recording it" "$WS/.amlspec/runs/$id2/driver.log"
assert_no_rejects "killed applies"
pass "killed after the job was created: the job is found and followed"
