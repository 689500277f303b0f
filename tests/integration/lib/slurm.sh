# A real single-node Slurm cluster for one test (reference: c-libraries.md
# part B4, munge-free variant): slurmctld and slurmd as root, every file in
# a folder of the test, spare ports.
#   slurm_start DIR     writes DIR/slurm.conf and starts both daemons; sets
#                       SLURM_CONF SLURM_DIR SLURMCTLD_PID SLURMD_PID
#   slurmctld_stop / slurmctld_start [-c]   restart the controller alone
#   slurm_stop          cancels what is left, stops both daemons by pid
# SLURM_MIN_JOB_AGE (default 300): how long scontrol still knows a finished job.

proc_alive() { # a zombie (nobody reaps here) is not alive
	[ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null && [ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" != Z ]
}

stop_pid() { # stop_pid PID: TERM, wait up to 10 s, KILL
	local p=$1 i=0
	proc_alive "$p" || return 0
	kill "$p" 2>/dev/null || true
	while proc_alive "$p" && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
	proc_alive "$p" && kill -KILL "$p" 2>/dev/null || true
}

slurm_start() {
	SLURM_DIR=$1
	command -v slurmctld >/dev/null || [ -x /usr/sbin/slurmctld ] || { echo "SKIP: slurm-wlm is not installed" >&2; return 77; }
	mkdir -p "$SLURM_DIR/state" "$SLURM_DIR/spool" "$SLURM_DIR/log"
	local ctl_port d_port mem
	ctl_port=$(spare_port)
	d_port=$(spare_port)
	while [ "$d_port" = "$ctl_port" ]; do d_port=$(spare_port); done
	mem=$(( $(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo) - 512 ))
	cat >"$SLURM_DIR/slurm.conf" <<CONF
ClusterName=amlspec$$
SlurmctldHost=localhost
SlurmUser=root
SlurmctldPort=$ctl_port
SlurmdPort=$d_port
AuthType=auth/none
CredType=cred/none
StateSaveLocation=$SLURM_DIR/state
SlurmdSpoolDir=$SLURM_DIR/spool
SlurmctldPidFile=$SLURM_DIR/slurmctld.pid
SlurmdPidFile=$SLURM_DIR/slurmd.pid
SlurmctldLogFile=$SLURM_DIR/log/slurmctld.log
SlurmdLogFile=$SLURM_DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$SLURM_DIR/log/jobcomp.txt
MpiDefault=none
ReturnToService=2
MinJobAge=${SLURM_MIN_JOB_AGE:-300}
KillWait=5
SchedulerType=sched/backfill
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
	export SLURM_CONF=$SLURM_DIR/slurm.conf SLURM_DIR
	slurmctld_start -c || return 1
	slurmd -f "$SLURM_CONF" -N localhost || return 1
	local i=0
	while [ ! -s "$SLURM_DIR/slurmd.pid" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
	SLURMD_PID=$(cat "$SLURM_DIR/slurmd.pid")
	export SLURMD_PID
	slurm_wait_idle
}

slurm_wait_idle() {
	local i=0
	until sinfo -h -o '%T' 2>/dev/null | grep -qx idle; do
		sleep 0.2; i=$((i+1))
		[ $i -lt 150 ] || { echo "slurm did not become idle" >&2; tail -20 "$SLURM_DIR"/log/*.log >&2; return 1; }
	done
}

slurmctld_start() {
	rm -f "$SLURM_DIR/slurmctld.pid"
	slurmctld -f "$SLURM_CONF" "$@" || return 1
	local i=0
	while [ ! -s "$SLURM_DIR/slurmctld.pid" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
	SLURMCTLD_PID=$(cat "$SLURM_DIR/slurmctld.pid")
	export SLURMCTLD_PID
	i=0
	until scontrol ping 2>/dev/null | grep -q UP; do
		sleep 0.1; i=$((i+1))
		[ $i -lt 100 ] || { echo "slurmctld did not answer" >&2; return 1; }
	done
}

slurmctld_stop() {
	stop_pid "${SLURMCTLD_PID:-}"
	SLURMCTLD_PID=
}

slurm_stop() {
	if [ -n "${SLURMCTLD_PID:-}" ] && proc_alive "$SLURMCTLD_PID"; then
		# let slurmd end the steps it started before it goes
		scancel --quiet --full $(squeue -h -o %i 2>/dev/null) 2>/dev/null || true
		local i=0
		while [ -n "$(squeue -h -o %i 2>/dev/null)" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
	fi
	stop_pid "${SLURMD_PID:-}"
	slurmctld_stop
	SLURMD_PID=
	slurm_kill_leftovers
}

# Job steps that outlived the daemons (a controller restarted with -c
# forgets jobs that slurmd may still be running): every process whose
# environment names this cluster's SLURM_CONF (slurmstepd inherits it from
# slurmd, jobs from sbatch), except this shell and its ancestors.
slurm_kill_leftovers() {
	[ -n "${SLURM_CONF:-}" ] || return 0
	python3 - "$SLURM_CONF" "$$" <<'PY'
import os, signal, sys
want = ("SLURM_CONF=" + sys.argv[1]).encode()
keep, p = set(), os.getpid()
while p > 1:
    keep.add(p)
    try:
        p = int(open("/proc/%d/stat" % p).read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        break
keep.add(int(sys.argv[2]))
for d in os.listdir("/proc"):
    if not d.isdigit() or int(d) in keep:
        continue
    try:
        env = open("/proc/%s/environ" % d, "rb").read().split(b"\0")
    except OSError:
        continue
    if want in env:
        try:
            os.kill(int(d), signal.SIGKILL)
        except OSError:
            pass
PY
}
