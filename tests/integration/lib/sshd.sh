# A real sshd on 127.0.0.1 for one test (reference: c-libraries.md part B5).
#   sshd_start DIR      generated host and user keys, known_hosts, a spare port;
#                       sets SSH_PORT SSH_KEY SSH_KNOWN_HOSTS SSHD_PID SSHD_DIR
#   sshd_stop           stops that sshd (by pid) and removes /run/sshd if a
#                       test created it and no other test's sshd still needs it
# Extra sshd_config lines: SSHD_EXTRA (e.g. "SetEnv PIP_NO_INDEX=1").

# /run/sshd is sshd's compiled-in privilege separation folder. Tests that run
# at the same time share it: each registers in $SSHD_USERS, and the last one
# out removes the folder, only if a test created it.
SSHD_USERS=${TMPDIR:-/tmp}/amlspec-test-sshd-users
SSHD_USERS_LOCK=${TMPDIR:-/tmp}/amlspec-test-sshd-users.lock

spare_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

sshd_start() {
	SSHD_DIR=$1
	mkdir -p "$SSHD_DIR"
	local sshd
	sshd=$(command -v sshd || echo /usr/sbin/sshd)
	[ -x "$sshd" ] || { echo "SKIP: sshd is not installed (scripts/deps.sh test)" >&2; return 77; }
	ssh-keygen -q -t ed25519 -N '' -f "$SSHD_DIR/host_ed25519"
	ssh-keygen -q -t ed25519 -N '' -f "$SSHD_DIR/key"
	cp "$SSHD_DIR/key.pub" "$SSHD_DIR/authorized_keys"
	chmod 600 "$SSHD_DIR/authorized_keys"
	(
		flock 9
		mkdir -p "$SSHD_USERS"
		if [ ! -d /run/sshd ]; then
			mkdir -p /run/sshd && chmod 755 /run/sshd
			: >"$SSHD_USERS/created"
		fi
		: >"$SSHD_USERS/$$"
	) 9>"$SSHD_USERS_LOCK"
	local try
	for try in 1 2 3 4 5; do
		SSH_PORT=$(spare_port)
		cat >"$SSHD_DIR/sshd_config" <<CONF
ListenAddress 127.0.0.1
Port $SSH_PORT
HostKey $SSHD_DIR/host_ed25519
PidFile $SSHD_DIR/sshd.pid
AuthorizedKeysFile $SSHD_DIR/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
LogLevel VERBOSE
MaxStartups 50:30:100
MaxSessions 50
${SSHD_EXTRA:-}
CONF
		"$sshd" -t -f "$SSHD_DIR/sshd_config" || return 1
		"$sshd" -f "$SSHD_DIR/sshd_config" -E "$SSHD_DIR/sshd.log" || return 1
		local i=0
		while [ ! -s "$SSHD_DIR/sshd.pid" ] && [ $i -lt 50 ]; do sleep 0.05; i=$((i+1)); done
		SSHD_PID=$(cat "$SSHD_DIR/sshd.pid" 2>/dev/null || true)
		if [ -n "$SSHD_PID" ] && kill -0 "$SSHD_PID" 2>/dev/null; then
			break
		fi
		SSHD_PID=
	done
	[ -n "$SSHD_PID" ] || { cat "$SSHD_DIR/sshd.log" >&2; return 1; }
	SSH_KEY=$SSHD_DIR/key
	SSH_KNOWN_HOSTS=$SSHD_DIR/known_hosts
	echo "[127.0.0.1]:$SSH_PORT $(cut -d' ' -f1,2 "$SSHD_DIR/host_ed25519.pub")" >"$SSH_KNOWN_HOSTS"
	export SSH_PORT SSH_KEY SSH_KNOWN_HOSTS SSHD_PID SSHD_DIR
}

# ssh options a test uses to reach the sshd itself (not through amlspec)
ssh_test() {
	ssh -p "$SSH_PORT" -i "$SSH_KEY" -o BatchMode=yes -o StrictHostKeyChecking=yes \
		-o UserKnownHostsFile="$SSH_KNOWN_HOSTS" -o IdentitiesOnly=yes root@127.0.0.1 "$@"
}

sshd_stop() {
	if [ -n "${SSHD_PID:-}" ]; then
		kill "$SSHD_PID" 2>/dev/null || true
		local i=0
		while kill -0 "$SSHD_PID" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
		kill -KILL "$SSHD_PID" 2>/dev/null || true
		SSHD_PID=
	fi
	(
		flock 9
		rm -f "$SSHD_USERS/$$"
		# registrations of tests that died without stopping
		for u in "$SSHD_USERS"/*; do
			case ${u##*/} in *[!0-9]*) continue ;; esac
			kill -0 "${u##*/}" 2>/dev/null || rm -f "$u"
		done
		if [ -f "$SSHD_USERS/created" ] && [ -z "$(ls "$SSHD_USERS" | grep -v '^created$')" ]; then
			# no other test's sshd needs it; the folder holds nothing of anyone else
			rmdir /run/sshd 2>/dev/null || true
			rm -f "$SSHD_USERS/created"
		fi
	) 9>"$SSHD_USERS_LOCK"
}
