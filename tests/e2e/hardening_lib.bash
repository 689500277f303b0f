# Helpers for the hardening_*.sh end-to-end tests (sourced after lib.sh; the
# .bash name keeps CTest from running this file as a test of its own).
#
#  - hcheck: a Python checker of a workspace's invariants (state parses, no
#    run that executed is forgotten by the state, every run ended, no
#    half-built environment in use);
#  - wait_quiet: waits until no supervisor in a workspace is alive;
#  - kill_point: runs `amlspec apply` under strace and kills it with SIGKILL
#    at the Nth call of one system call (strace -e inject=...:signal=SIGKILL:
#    when=N), a reliable way to stop it at an exact point without any hook in
#    the binary;
#  - a cleanup that stops every process group and supervisor the test started
#    and unmounts what it mounted.
HLIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
H_PGIDS=()   # process groups started with setsid (strace + apply + children)
H_MOUNTS=()  # mount points to unmount on exit

hcleanup() {
	local rc=$?
	set +e
	for pg in "${H_PGIDS[@]}" $(cat "$T/pgids" 2>/dev/null); do kill -KILL -- "-$pg" 2>/dev/null; done
	# supervisors and the runs' process groups in every workspace under $T
	# (one pass: one python for all records; ended runs are left alone, their
	# ids may belong to someone else by now)
	if [ -d "$T" ]; then
		find "$T" -path '*/.amlspec/runs/*/run.json' -print0 2>/dev/null | python3 -c '
import json, os, signal, sys
for f in sys.stdin.buffer.read().split(b"\0"):
    try:
        d = json.load(open(f))
    except Exception:
        continue
    if d.get("status") in ("Completed", "Failed", "Canceled"):
        continue
    for k, sign in (("pgid", -1), ("supervisor_pid", 1)):
        v = d.get(k)
        if isinstance(v, int) and v > 1:
            try:
                os.kill(sign * v, signal.SIGKILL)
            except OSError:
                pass
' 2>/dev/null
		# done here: lib.sh's cleanup would start one python per record
		rm -rf "$WS/.amlspec/runs" 2>/dev/null
	fi
	if [ "$rc" = 0 ] && [ -n "$(ls -A "$T/sanitizer" 2>/dev/null)" ]; then
		cat "$T"/sanitizer/* | head -100
		echo "FAIL: a sanitizer reported an error (above)" >&2
		rc=1
	fi
	for m in "${H_MOUNTS[@]}"; do
		umount -l "$m" 2>/dev/null
	done
	cleanup
	exit $rc
}
trap hcleanup EXIT

# In a sanitizer build, every report of every process (supervisors write
# their stderr to /dev/null) goes to $T/sanitizer/, and a test that passed
# fails when anything is there. A plain build ignores these variables.
mkdir -p "$T/sanitizer"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$T/sanitizer/asan"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}log_path=$T/sanitizer/ubsan"

# LeakSanitizer cannot run under ptrace: an ASan build traced by strace runs
# without leak detection (every other check of the sanitizers stays on)
H_TRACED_ASAN="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"

need_strace() {
	command -v strace >/dev/null || fail "strace is needed for fault injection (Debian package: strace)"
	# ptrace may be forbidden (a container without CAP_SYS_PTRACE, yama scope 3)
	strace -qq -o /dev/null true 2>/dev/null || fail "strace cannot trace here (ptrace not permitted)"
}

is_root() { [ "$(id -u)" = 0 ]; }

hcheck() { python3 "$HLIB_DIR/hardening_check.py" "$@"; }

# wait_quiet WS [seconds]: until no supervisor of WS holds its lock
wait_quiet() { hcheck wait-quiet "$1" "${2:-30}" || fail "supervisors in $1 did not finish"; }

# kill_point DIR SYSCALL N ARGS...: in DIR/ws, apply ARGS under strace,
# killed at the Nth SYSCALL. Sets KP_RC: 137 when killed there, the exit code
# of apply when it finished first (N past the last call).
kill_point() {
	local dir=$1 sc=$2 n=$3
	shift 3
	(
		cd "$dir/ws"
		ASAN_OPTIONS=$H_TRACED_ASAN exec setsid strace -qq -o /dev/null -e trace="$sc" -e inject="$sc":signal=SIGKILL:when="$n" \
			"$AMLSPEC" apply "$@" >"$dir/kp.out" 2>"$dir/kp.err"
	) &
	local pid=$!
	H_PGIDS+=("$pid")
	echo "$pid" >>"$T/pgids"
	set +e
	wait "$pid" 2>/dev/null
	KP_RC=$?
	set -e
	# what apply left running in its own group (a venv build, pip): killed too,
	# as a terminal closing or an OOM kill of the whole job would
	kill -KILL -- "-$pid" 2>/dev/null || true
}

# count_calls DIR SYSCALL ARGS...: how many times one apply in DIR/ws makes
# SYSCALL; the calls are kept in DIR/SYSCALL.trace to name each point
count_calls() {
	local dir=$1 sc=$2
	shift 2
	(cd "$dir/ws" && ASAN_OPTIONS=$H_TRACED_ASAN strace -qq -o "$dir/$sc.trace" -e trace="$sc" "$AMLSPEC" apply "$@" >/dev/null 2>&1) || true
	grep -c "^$sc(" "$dir/$sc.trace" || true
}

# fault_point TPL SYSCALL N "ADDR..." SPEC...: one fault point. A copy of the
# workspace TPL/ws gets apply SPEC... killed at the Nth SYSCALL; then status
# must work, the invariants hold, and a plain apply recovers: every ADDR ends
# with a Completed last run and plan has nothing left to do.
# Appends "SYSCALL N killed|finished" to $T/points.
fault_point() {
	local tpl=$1 sc=$2 n=$3 addrs=$4
	shift 4
	local d="$T/pt/$sc-$n" label="$sc#$n"
	rm -rf "$d"
	mkdir -p "$d"
	cp -a "$tpl/ws" "$d/ws"
	# a template with its own environment cache: each point gets a copy
	if [ -d "$tpl/cache" ]; then
		cp -a "$tpl/cache" "$d/cache"
		export XDG_CACHE_HOME="$d/cache"
	fi
	kill_point "$d" "$sc" "$n" "$@"
	local how=killed
	if [ "$KP_RC" != 137 ]; then
		how=finished
		[ "$KP_RC" = 0 ] || { cat "$d/kp.err"; fail "$label: apply was not killed and exited $KP_RC"; }
	fi
	hcheck wait-quiet "$d/ws" 60 || fail "$label: supervisors did not finish"
	local rc=0
	(cd "$d/ws" && "$AMLSPEC" status >"$d/st.out" 2>"$d/st.err") || rc=$?
	[ "$rc" = 0 ] || { cat "$d/st.err"; fail "$label: status after the kill exited $rc"; }
	! grep -q "error:" "$d/st.err" || { cat "$d/st.err"; fail "$label: status reports an error after the kill"; }
	(cd "$d/ws" && "$AMLSPEC" status --output json >"$d/st.json" 2>/dev/null) || fail "$label: status --output json"
	python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$d/st.json" || fail "$label: status JSON"
	hcheck check "$d/ws" >"$d/check1" 2>&1 || { cat "$d/check1"; fail "$label: invariants after the kill"; }
	hcheck cache "$XDG_CACHE_HOME" >"$d/check1c" 2>&1 || { cat "$d/check1c"; fail "$label: environment cache after the kill"; }
	rc=0
	(cd "$d/ws" && "$AMLSPEC" apply "$@" >"$d/rec.out" 2>"$d/rec.err") || rc=$?
	[ "$rc" = 0 ] || { cat "$d/rec.err"; fail "$label: the apply after the kill exited $rc"; }
	rc=0
	(cd "$d/ws" && "$AMLSPEC" plan "$@" >"$d/plan.out" 2>&1) || rc=$?
	[ "$rc" = 0 ] || { cat "$d/plan.out"; fail "$label: plan after recovery exited $rc (changes left)"; }
	# shellcheck disable=SC2086
	hcheck check "$d/ws" --final $addrs >"$d/check2" 2>&1 || { cat "$d/check2"; fail "$label: invariants after recovery"; }
	hcheck cache "$XDG_CACHE_HOME" --after-build >"$d/check2c" 2>&1 ||
		{ cat "$d/check2c"; fail "$label: environment cache after recovery"; }
	echo "$sc $n $how $(grep "^$sc(" "$tpl/$sc.trace" 2>/dev/null | sed -n "${n}p" | cut -c1-200)" >>"$T/points"
	rm -rf "$d"
}

# fault_sweep TPL SYSCALL STEP "ADDR..." SPEC...: fault_point at every STEPth
# call of SYSCALL in one apply (counted on a copy of TPL), H_JOBS (2) at a
# time. HARDENING_FULL=1 makes every STEP 1: every call of every swept system
# call is a fault point (a few minutes; for the record, not for CI).
fault_sweep() {
	local tpl=$1 sc=$2 step=$3 addrs=$4
	shift 4
	[ "${HARDENING_FULL:-0}" = 0 ] || step=1
	rm -rf "$tpl/count"
	mkdir -p "$tpl/count"
	cp -a "$tpl/ws" "$tpl/count/ws"
	local total
	if [ -d "$tpl/cache" ]; then
		cp -a "$tpl/cache" "$tpl/count/cache"
		total=$(XDG_CACHE_HOME="$tpl/count/cache" count_calls "$tpl/count" "$sc" "$@")
	else
		total=$(count_calls "$tpl/count" "$sc" "$@")
	fi
	cp "$tpl/count/$sc.trace" "$tpl/$sc.trace"
	hcheck wait-quiet "$tpl/count/ws" 60 || true
	rm -rf "$tpl/count"
	[ "$total" -gt 0 ] || fail "apply makes no $sc call: nothing to inject"
	local n running=0 bad=0
	for ((n = 1; n <= total; n += step)); do
		fault_point "$tpl" "$sc" "$n" "$addrs" "$@" &
		running=$((running + 1))
		if [ "$running" -ge "${H_JOBS:-2}" ]; then
			wait -n || bad=1
			running=$((running - 1))
		fi
		[ "$bad" = 0 ] || break
	done
	while [ "$running" -gt 0 ]; do
		wait -n || bad=1
		running=$((running - 1))
	done
	[ "$bad" = 0 ] || fail "fault sweep over $sc failed (see above)"
	echo "swept $sc: $(( (total + step - 1) / step )) points of $total calls"
}

# hmount_tmpfs DIR SIZE: a small tmpfs at DIR, unmounted on exit
hmount_tmpfs() {
	mkdir -p "$1"
	mount -t tmpfs -o "size=$2,mode=0755" tmpfs "$1" || fail "cannot mount a tmpfs at $1"
	H_MOUNTS+=("$1")
}
