# Shared helpers for the end-to-end tests: each test gets a fresh workspace
# (a real git repository) in a temporary folder, and drives the real binary.
set -euo pipefail
: "${AMLSPEC:?set by ctest}"
: "${AMLSPEC_SOURCE_DIR:?set by ctest}"
export NO_COLOR=1
export PIP_FIND_LINKS= PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1
T=$(mktemp -d "${TMPDIR:-/tmp}/amlspec-e2e.XXXXXX")
export XDG_CACHE_HOME="$T/cache"
WS="$T/ws"
cleanup() {
	# stop anything a test left running in its runs
	if [ -d "$WS/.amlspec/runs" ]; then
		for f in "$WS"/.amlspec/runs/*/run.json; do
			[ -f "$f" ] || continue
			pg=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("pgid") or "")' "$f" 2>/dev/null || true)
			[ -n "$pg" ] && kill -KILL -- "-$pg" 2>/dev/null || true
		done
	fi
	rm -rf "$T"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }
am() { "$AMLSPEC" "$@"; }
# am_rc VAR args...: runs amlspec, stores the exit code in VAR, output in $T/out, $T/err
am_rc() { local __v=$1; shift; set +e; "$AMLSPEC" "$@" >"$T/out" 2>"$T/err"; eval "$__v=\$?"; set -e; }
assert_rc() { [ "$1" = "$2" ] || { echo "--- stdout"; cat "$T/out"; echo "--- stderr"; cat "$T/err"; fail "exit $1, expected $2 ($3)"; }; }
assert_grep() { grep -q -- "$1" "$2" || { echo "--- $2:"; cat "$2"; fail "expected '$1' in $2"; }; }
assert_no_grep() { ! grep -rq -- "$1" "$2" || { grep -rn -- "$1" "$2" | head; fail "did not expect '$1' in $2"; }; }
json_get() { python3 -c 'import json,sys
d=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    d = d[int(k)] if isinstance(d, list) else d.get(k)
print("" if d is None else (json.dumps(d) if isinstance(d,(dict,list)) else d))' "$1" "$2"; }
run_ids() { ls "$WS/.amlspec/runs" 2>/dev/null | sort; }
run_json() { echo "$WS/.amlspec/runs/$1/run.json"; }
wait_status() { # wait_status RUN_ID STATUS [seconds]
	local i=0 max=$(( ${3:-30} * 10 ))
	while [ $i -lt $max ]; do
		am status "$1" --output json >"$T/st.json" 2>/dev/null || true
		[ "$(json_get "$T/st.json" run.status 2>/dev/null)" = "$2" ] && return 0
		sleep 0.1; i=$((i+1))
	done
	cat "$T/st.json"; fail "run $1 did not reach $2"
}

# A workspace: a git repository with amlspec.yaml, src/train.py and a spec.
make_ws() {
	mkdir -p "$WS/src"
	cd "$WS"
	git init -q -b main .
	git config user.email t@example.invalid; git config user.name tester
	git remote add origin https://example.invalid/team/project.git
	printf 'version: 1\nworkspace: e2e\n' >amlspec.yaml
	cat >src/train.py <<'PY'
import json, os, sys
print("args:", sys.argv[1:], flush=True)
out = os.environ["AMLSPEC_OUTPUTS_DIR"]
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "result.json"), "w") as f:
    json.dump({"args": sys.argv[1:]}, f)
with open(os.environ["AMLSPEC_METRICS_FILE"], "a") as f:
    f.write(json.dumps({"name": "accuracy", "value": 0.91, "step": 1}) + "\n")
print("done", flush=True)
PY
	cat >run.yaml <<'YAML'
experiment: e2e
name: base
source_directory: src
script: train.py
arguments: [--lr, 0.1]
YAML
	printf '.amlspec/\n' >.gitignore
	git add -A && git commit -q -m init
}

make_wheelhouse() {
	python3 "$AMLSPEC_SOURCE_DIR/tests/fixtures/make_wheelhouse.py" "$T/wheels" >/dev/null
	export PIP_FIND_LINKS="$T/wheels"
}
