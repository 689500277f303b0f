# Helpers for tests/e2e/azureml_*.sh: a workspace whose `cloud` target is the
# loopback emulator (tests/azureml/emulator.py), and ways to ask the emulator
# what it saw. Sourced after tests/e2e/lib.sh.
AZDIR="$AMLSPEC_SOURCE_DIR/tests/azureml"
SUB=00000000-1111-2222-3333-444444444444
export AZUREML_RUN_POLLING_INTERVAL_MIN=0.05 AZUREML_RUN_POLLING_INTERVAL_MAX=0.2
unset AZURE_ACCESS_TOKEN AZURE_TENANT_ID AZURE_CLIENT_ID AZURE_CLIENT_SECRET AZURE_AUTHORITY_HOST AMLSPEC_HTTP_TRACE
# the token the emulator accepts; tests grep for it everywhere afterwards
TOKEN="emu-token-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
SECRET="emu-secret-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"

# A Python with PyYAML for jobcheck.py (Debian: python3-yaml).
PYY=python3
python3 -c 'import yaml' 2>/dev/null || { [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import yaml' 2>/dev/null && PYY=/usr/bin/python3; }

EMU_PID=
start_emulator() { # start_emulator [ARGS...]: sets EPORT and EURL
	rm -f "$T/emu.port"
	python3 "$AZDIR/emulator.py" --port-file "$T/emu.port" --token "$TOKEN" --client "tenant-1:app-1:$SECRET" \
		--compute cpu-cluster --compute gpu-cluster "$@" >"$T/emu.out" 2>"$T/emu.err" &
	EMU_PID=$!
	local i=0
	while [ ! -s "$T/emu.port" ]; do
		sleep 0.05; i=$((i + 1))
		[ $i -lt 200 ] || { cat "$T/emu.err"; fail "the emulator did not start"; }
	done
	EPORT=$(cat "$T/emu.port")
	EURL="http://127.0.0.1:$EPORT"
}
stop_emulator() { [ -n "$EMU_PID" ] && kill "$EMU_PID" 2>/dev/null; wait "$EMU_PID" 2>/dev/null || true; EMU_PID=; }
trap 'stop_emulator; cleanup' EXIT

emu() { curl -sS --fail-with-body "$EURL/_emulator/$1" "${@:2}"; }
emu_stat() { emu stats | python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
emu_faults() { emu faults -X POST -H 'Content-Type: application/json' --data "$1" >/dev/null; }
# Every request the client made must have matched the specification.
assert_no_rejects() {
	local r; r=$(emu_stat rejected)
	if [ "$r" != 0 ]; then
		emu log | python3 -c 'import json,sys
for e in json.load(sys.stdin):
    if e["status"] >= 400: print(e["status"], e["method"], e["path"], e["reason"])'
		fail "the emulator rejected $r request(s) ($1)"
	fi
}

# A workspace (git repository) whose target `cloud` is the emulator.
make_azws() {
	mkdir -p "$WS/src"
	cd "$WS"
	git init -q -b main .
	git config user.email t@example.invalid; git config user.name tester
	git remote add origin https://example.invalid/team/project.git
	cat >amlspec.yaml <<EOF
version: 1
workspace: e2e-azureml
targets:
  cloud:
    type: azureml
    subscription_id: "$SUB"
    resource_group: ml-rg
    workspace_name: ml-ws
    compute: cpu-cluster
    endpoint: "$EURL"
EOF
	printf 'import sys\nprint("args:", sys.argv[1:])\n' >src/train.py
	printf 'def helper():\n    return 42\n' >src/util.py
	mkdir -p src/pkg && printf 'x = 1\n' >src/pkg/__init__.py
	cat >run.yaml <<'EOF'
experiment: e2e
name: cloud
source_directory: src
script: train.py
arguments: [--lr, 0.1, "it's fine"]
environment:
  python:
    version: "3.11"
    pip_packages: [numpy==1.26.4]
environment_variables: {EPOCHS: "3"}
target: cloud
limits: {timeout: 2h}
EOF
	printf '.amlspec/\n' >.gitignore
	git add -A && git commit -q -m init
}
