#!/usr/bin/env bash
# A script that prints tens of megabytes a second, invalid UTF-8, NUL bytes,
# carriage returns, terminal escapes and a megabyte-long line does not slow
# or break log streaming: the bytes that apply streams, that `logs -f`
# follows and that `logs` prints are exactly the bytes the script wrote
# (sha256), apply ends within a moment of the script, and the throughput is
# printed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hardening_lib.bash"
make_ws
MB=${HARDENING_LOG_MB:-48}
cat >src/flood.py <<'PY'
import hashlib, json, os, sys, time
mb = int(sys.argv[1]); pace = float(sys.argv[2]); stream = sys.argv[3]
out = sys.stdout.buffer if stream == "stdout" else sys.stderr.buffer
h = hashlib.sha256(); n = 0
hostile = (b"valid \xc3\xa9 invalid \xff\xfe \xc0\xaf \xed\xa0\x80 nul \x00\x00 cr \r\r\n"
           b"esc \x1b[31mred\x1b[0m \x1b]0;title\x07 bell \x07 tab\t end\n")
start = time.time()
for i in range(mb):
    if i == 1:
        chunk = b"L" * (1 << 20)          # one line of a megabyte, no newline
    elif i % 2:
        chunk = os.urandom(1 << 20)       # anything at all
    else:
        chunk = (hostile * ((1 << 20) // len(hostile) + 1))[: 1 << 20]
    out.write(chunk); out.flush()
    h.update(chunk); n += len(chunk)
    if pace:
        time.sleep(pace)
end = time.time()
with open(os.path.join(os.environ["AMLSPEC_OUTPUTS_DIR"], "written.json"), "w") as f:
    json.dump({"sha256": h.hexdigest(), "bytes": n, "start": start, "end": end}, f)
PY
spec() { # spec NAME MB PACE STREAM
	printf 'experiment: e2e\nname: %s\nsource_directory: src\nscript: flood.py\narguments: [%s, "%s", %s]\n' \
		"$1" "$2" "$3" "$4" >"$1.run.yaml"
}
run_dir_of() { # the run folder of the spec named $1
	for d in "$WS"/.amlspec/runs/*/; do [ "$(json_get "$d/run.json" name)" = "$1" ] && echo "${d%/}"; done; true
}
written() { json_get "$(run_dir_of "$1")/wd/outputs/written.json" "$2"; } # what the script says it wrote

# 1. apply streams a flood as fast as it comes, to a file
spec flood "$MB" 0 stdout
t0=$(date +%s.%N)
"$AMLSPEC" apply flood.run.yaml >"$T/apply.out" 2>"$T/apply.err" || { cat "$T/apply.err"; fail "apply of the flood"; }
t1=$(date +%s.%N)
want=$(written flood sha256)
[ "$(sha256sum <"$T/apply.out" | cut -d' ' -f1)" = "$want" ] || fail "apply's stream differs from what the script wrote ($(stat -c %s "$T/apply.out") bytes)"
rd=$(run_dir_of flood)
[ "$(sha256sum <"$rd/driver.log" | cut -d' ' -f1)" = "$want" ] || fail "driver.log differs from what the script wrote"
secs=$(python3 -c "print(round(max($t1 - $t0, 0.001), 2))")
rate=$(python3 -c "print(round($MB / $secs, 1))")
lag=$(python3 -c "print(round($t1 - $(written flood end), 2))")
echo "apply streamed $MB MiB in ${secs}s: $rate MiB/s; apply ended ${lag}s after the script"
python3 -c "import sys; sys.exit(0 if $rate >= 8 else 1)" || fail "streaming too slow: $rate MiB/s"
python3 -c "import sys; sys.exit(0 if $lag < 3 else 1)" || fail "apply ended ${lag}s after the script"
pass "apply streams $MB MiB of hostile bytes intact ($rate MiB/s)"

# 2. the same through a pipe to a slow reader: back-pressure, nothing lost
spec piped 16 0 stdout
"$AMLSPEC" apply piped.run.yaml 2>"$T/piped.err" | (sleep 1; sha256sum) >"$T/piped.sha"
[ "$(cut -d' ' -f1 "$T/piped.sha")" = "$(written piped sha256)" ] || fail "stream through a slow pipe differs"
pass "apply into a slow pipe: intact"

# 3. logs -f follows a paced flood (about 8 MiB/s) on stderr, from the start
spec paced 24 0.12 stderr
am_rc rc apply paced.run.yaml --no-wait; assert_rc "$rc" 0 "no-wait"
pid=$(basename "$(run_dir_of paced)")
t0=$(date +%s.%N)
"$AMLSPEC" logs -f "$pid" >"$T/follow.out" 2>"$T/follow.err" || { cat "$T/follow.err"; fail "logs -f"; }
t1=$(date +%s.%N)
want=$(written paced sha256)
[ "$(sha256sum <"$T/follow.out" | cut -d' ' -f1)" = "$want" ] || fail "logs -f output differs ($(stat -c %s "$T/follow.out") bytes)"
lag=$(python3 -c "print(round($t1 - $(written paced end), 2))")
python3 -c "import sys; sys.exit(0 if $lag < 3 else 1)" || fail "logs -f ended ${lag}s after the script"
am_rc rc logs "$pid"; assert_rc "$rc" 0 "logs after the end"
[ "$(sha256sum <"$T/out" | cut -d' ' -f1)" = "$want" ] || fail "logs output differs"
[ "$(json_get "$(run_json "$pid")" status)" = Completed ] || fail "paced run not Completed"
pass "logs -f follows a paced flood intact, ends ${lag}s after the script"
