#!/usr/bin/env bash
# Load, at a size that fits a CI minute (bench/load.sh gives the figures at
# full size: 1,000 specs, 20 applies):
#  - plan and apply of a sweep of HARDENING_LOAD_SPECS (default 200) specs in
#    one workspace, runs that exit at once: every spec runs exactly once, the
#    state names each run, a second plan has nothing to do;
#  - 20 concurrent `apply --lock-timeout 120` processes on one workspace, 6
#    specs each, every spec named by two of them: all succeed, each spec runs
#    exactly once, the state is valid and the lock is free afterwards.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hardening_lib.bash"
N=${HARDENING_LOAD_SPECS:-200}
C=20
PER=6
make_ws
printf 'import sys\nprint("seed", sys.argv[-1])\n' >src/sweep.py
mkdir sweep
python3 - "$N" "$((C * PER / 2))" <<'PY'
import sys
n, m = int(sys.argv[1]), int(sys.argv[2])
for prefix, count in (("s", n), ("c", m)):
    for i in range(count):
        with open(f"sweep/{prefix}{i:04d}.run.yaml", "w") as f:
            f.write(f"experiment: sweep\nname: {prefix}{i:04d}\nsource_directory: ../src\n"
                    f"script: sweep.py\narguments: [--seed, \"{i}\"]\n")
PY
rm run.yaml
git add -A && git commit -q -m sweep
sweep_specs=(sweep/s*.run.yaml)

t0=$(date +%s.%N)
am_rc rc plan "${sweep_specs[@]}"; assert_rc "$rc" 2 "plan of $N specs"
assert_grep "Plan: $N to create" "$T/out"
t1=$(date +%s.%N)
am_rc rc apply "${sweep_specs[@]}"; assert_rc "$rc" 0 "apply of $N specs"
assert_grep "Apply: $N runs, $N completed, 0 failed" "$T/err"
t2=$(date +%s.%N)
am_rc rc plan "${sweep_specs[@]}"; assert_rc "$rc" 0 "plan after apply"
addrs=$(for i in $(seq 0 $((N - 1))); do printf 'sweep/s%04d ' "$i"; done)
# shellcheck disable=SC2086
hcheck check "$WS" --final $addrs --runs-per-address 1 || fail "after the sweep"
echo "plan of $N specs: $(python3 -c "print(round($t1 - $t0, 2))") s, apply: $(python3 -c "print(round($t2 - $t1, 2))") s"
pass "sweep of $N specs: one run each, all recorded"

total=$((C * PER / 2))
t0=$(date +%s.%N)
pids=()
for k in $(seq 0 $((C - 1))); do
	args=()
	for j in $(seq 0 $((PER - 1))); do
		args+=("sweep/c$(printf %04d $(((k * PER / 2 + j) % total))).run.yaml")
	done
	"$AMLSPEC" --lock-timeout 120 apply "${args[@]}" >"$T/c$k.out" 2>"$T/c$k.err" &
	pids+=($!)
done
failed=0
for k in "${!pids[@]}"; do
	wait "${pids[$k]}" || { failed=$((failed + 1)); echo "--- apply $k:"; cat "$T/c$k.err"; }
done
t1=$(date +%s.%N)
[ "$failed" = 0 ] || fail "$failed of $C concurrent applies failed"
caddrs=$(for i in $(seq 0 $((total - 1))); do printf 'sweep/c%04d ' "$i"; done)
# shellcheck disable=SC2086
hcheck check "$WS" --final $caddrs $addrs --runs-per-address 1 || fail "after $C concurrent applies"
started=$(cat "$T"/c*.err | grep -c "started on local" || true)
[ "$started" = "$total" ] || fail "$started runs started by the concurrent applies, expected $total"
am_rc rc status; assert_rc "$rc" 0 "status after"
python3 - "$WS/.amlspec/lock" <<'PY' || fail "the workspace lock is still held"
import fcntl, os, struct, sys
fd = os.open(sys.argv[1], os.O_RDWR)
res = fcntl.fcntl(fd, fcntl.F_GETLK, struct.pack("hhqqi4x", fcntl.F_WRLCK, 0, 0, 0, 0))
sys.exit(0 if struct.unpack("hhqqi4x", res)[0] == fcntl.F_UNLCK else 1)
PY
echo "$C concurrent applies: $(python3 -c "print(round($t1 - $t0, 2))") s wall"
pass "$C concurrent applies on one workspace: all succeed, each of $total specs ran once"
