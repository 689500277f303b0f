#!/usr/bin/env bash
# Files amlspec writes that may hold private data are created 0600, and
# their folders 0700, whatever the umask (here 000, the worst case): .amlspec/,
# state.json, its backup and the kept damaged copy, the lock, runs/, each run
# folder, run.json, driver.log, metrics.jsonl, supervisor.lock,
# cancel.request, and saved plans.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hardening_lib.bash"
umask 000
make_ws
cat >src/slow.py <<'PY'
import json, os, time
with open(os.environ["AMLSPEC_METRICS_FILE"], "a") as f:
    f.write(json.dumps({"name": "loss", "value": 1.0}) + "\n")
print("slow", flush=True)
time.sleep(30)
PY
printf 'experiment: e2e\nname: slow\nsource_directory: src\nscript: slow.py\n' >slow.run.yaml
# plan first: it creates .amlspec (the snapshot store) before any apply
am_rc rc plan run.yaml -out "$T/saved.plan"; assert_rc "$rc" 2 "plan -out"
am_rc rc apply "$T/saved.plan"; assert_rc "$rc" 0 "apply the plan"
echo "# v2" >>src/train.py
am_rc rc apply run.yaml; assert_rc "$rc" 0 "second apply (backup)"
am_rc rc apply slow.run.yaml --no-wait; assert_rc "$rc" 0 "slow run"
sid=$(for r in $(run_ids); do [ "$(json_get "$(run_json "$r")" name)" != slow ] || echo "$r"; done)
[ -n "$sid" ] || fail "no run of slow.run.yaml"
wait_status "$sid" Running 20
for _ in $(seq 50); do [ -s "$WS/.amlspec/runs/$sid/metrics.jsonl" ] && break; sleep 0.1; done
am_rc rc cancel "$sid" --grace 1; assert_rc "$rc" 0 cancel
# a damaged state is kept as state.json.corrupt by the next write
head -c 20 "$WS/.amlspec/state.json" >"$T/trunc" && cp "$T/trunc" "$WS/.amlspec/state.json"
echo "# v3" >>src/train.py
am_rc rc apply run.yaml; assert_rc "$rc" 0 "apply over a damaged state"
[ -f "$WS/.amlspec/state.json.corrupt" ] || fail "damaged state not kept"

python3 - "$WS/.amlspec" "$T/saved.plan" <<'PY' || fail "modes"
import os, stat, sys
sd, plan = sys.argv[1:3]
bad = []
def want(path, mode):
    m = stat.S_IMODE(os.lstat(path).st_mode)
    if m != mode:
        bad.append(f"{path}: {m:o}, expected {mode:o}")
want(sd, 0o700)
for f in ("state.json", "state.json.backup", "state.json.corrupt", "lock"):
    want(os.path.join(sd, f), 0o600)
want(os.path.join(sd, "runs"), 0o700)
seen = set()
for rid in os.listdir(os.path.join(sd, "runs")):
    rd = os.path.join(sd, "runs", rid)
    want(rd, 0o700)
    for f in os.listdir(rd):
        p = os.path.join(rd, f)
        if os.path.isfile(p):
            want(p, 0o600)
            seen.add(f)
for f in ("run.json", "driver.log", "metrics.jsonl", "supervisor.lock", "cancel.request"):
    if f not in seen:
        bad.append(f"no {f} was written: the test does not cover it")
want(plan, 0o600)
# no file amlspec keeps beside the state is open to others
for f in os.listdir(sd):
    p = os.path.join(sd, f)
    if os.path.isfile(p) and stat.S_IMODE(os.stat(p).st_mode) & 0o077:
        bad.append(f"{p}: readable by others")
if bad:
    print("\n".join(bad), file=sys.stderr)
    sys.exit(1)
PY
pass "private files 0600, folders 0700, under umask 000"
