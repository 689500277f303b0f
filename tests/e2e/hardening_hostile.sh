#!/usr/bin/env bash
# Hostile input on the local target: a workspace, spec file, source folder,
# script and source files whose names hold spaces, quotes, a newline, $(...)
# and backticks; arguments and variables that a shell would expand. Nothing
# reaches a shell (every argument arrives literally in sys.argv, no marker
# file appears), nothing escapes the workspace (.., absolute paths, symlinks
# out of the tree, run ids and state entries that climb out of .amlspec).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hardening_lib.bash"
P="$T/pwned"   # arguments and variables try to create $P-something; names
nl=$'\n'      # (which cannot hold a slash) try PWNED-something in the cwd
WS="$T/ws q'uote \"dq\" \$(touch PWNED-wsdir) \`touch PWNED-wsbt\` ${nl}line"
make_ws
weird_dir="src dir 'q' \"dq\" \$(touch PWNED-srcdir)"
weird_script="we ird \$(touch PWNED-script) 'q'.py"
mkdir -p "$weird_dir"
cat >"$weird_dir/$weird_script" <<'PY'
import json, os, sys
out = os.environ["AMLSPEC_OUTPUTS_DIR"]
with open(os.path.join(out, "argv.json"), "w") as f:
    json.dump({"argv": sys.argv[1:], "var": os.environ.get("HOSTILE"), "cwd_files": sorted(os.listdir("."))}, f)
print("argv received", flush=True)
PY
# source files with hostile names: all must be snapshotted and checked out as they are
names=("a b.txt" "q'uote.txt" "d\"q.txt" "new${nl}line.txt" "\$(touch PWNED-file).txt" "\`touch PWNED-file2\`.txt"
	"-rf" "--help" "semi;colon&amp|pipe.txt" "ünï©ødé.txt" "star*?.txt" "back\\slash.txt")
for n in "${names[@]}"; do printf '%s\n' "$n" >"$weird_dir/$n"; done
python3 - "$weird_dir" "$weird_script" "$P" >"$WS/hostile.run.yaml" <<'PY'
import json, sys
d, script, p = sys.argv[1:4]
args = [f"$(touch {p}-arg1)", f"`touch {p}-arg2`", "a b", "'q'", '"dq"', "x\ny", f"; touch {p}-arg3",
        "${HOME}", "*", "--flag=$(id)", "&&", "|", ">", "\\", "", " lead", "tab\there", "ünï©ødé", "-", "--"]
print("experiment: e2e")
print("name: hostile")
print("source_directory: " + json.dumps(d))
print("script: " + json.dumps(script))
print("arguments: " + json.dumps(args))
print("environment_variables: " + json.dumps({"HOSTILE": f"$(touch {p}-var) `id` ${{HOME}} \"q\" 'q'"}))
PY
# the spec file's own name is hostile too
spec_file="spec 'q' \"dq\" \$(touch PWNED-spec).run.yaml"
mv "$WS/hostile.run.yaml" "$WS/$spec_file"
git add -A && git commit -q -m hostile

am_rc rc validate "$spec_file"; assert_rc "$rc" 0 "validate"
am_rc rc plan "$spec_file" -out "$T/hostile plan \$(touch PWNED-plan)"; assert_rc "$rc" 2 "plan"
am_rc rc apply "$T/hostile plan \$(touch PWNED-plan)"; assert_rc "$rc" 0 "apply the saved plan"
assert_grep "argv received" "$T/out"
id=$(run_ids)
[ "$(echo "$id" | wc -l)" = 1 ] || fail "one run expected"
python3 - "$WS/.amlspec/runs/$id/wd/outputs/argv.json" "$P" "${names[@]}" <<'PY' || fail "arguments, variables or file names changed on the way"
import json, sys
got = json.load(open(sys.argv[1]))
p = sys.argv[2]
want = [f"$(touch {p}-arg1)", f"`touch {p}-arg2`", "a b", "'q'", '"dq"', "x\ny", f"; touch {p}-arg3",
        "${HOME}", "*", "--flag=$(id)", "&&", "|", ">", "\\", "", " lead", "tab\there", "ünï©ødé", "-", "--"]
assert got["argv"] == want, (got["argv"], want)
assert got["var"] == f"$(touch {p}-var) `id` ${{HOME}} \"q\" 'q'", got["var"]
for n in sys.argv[3:]:
    assert n in got["cwd_files"], (n, got["cwd_files"])
PY
am_rc rc status "$id"; assert_rc "$rc" 0 "status"
am_rc rc logs "$id"; assert_rc "$rc" 0 "logs"; assert_grep "argv received" "$T/out"
am_rc rc plan "$spec_file"; assert_rc "$rc" 0 "plan after apply: no change"
# the command form: argv[0] from the spec, never a shell
cat >cmd.run.yaml <<YAML
experiment: e2e
name: cmd
source_directory: src
command: [python3, -c, "import sys; open('argv.txt','w').write(repr(sys.argv[1:]))", "\$(touch $P-cmd)", "; touch $P-cmd2"]
YAML
am_rc rc apply cmd.run.yaml; assert_rc "$rc" 0 "command form"
cid=$(run_ids | grep -v "$id" || true)
grep -qF "\$(touch $P-cmd)" "$WS/.amlspec/runs/$cid/wd/argv.txt" || fail "command argument not literal"
pwned() { { ls -d "$P"* /PWNED* /tmp/PWNED* "$HOME"/PWNED* 2>/dev/null; find "$T" -name 'PWNED*' 2>/dev/null; } | head; }
[ -z "$(pwned)" ] || fail "a shell ran something: $(pwned)"
pass "hostile names, arguments and variables arrive literally; no shell"

# --- escapes: each refused with a message, nothing outside is read or written
outside="$T/outside"
mkdir -p "$outside"
echo 'print("escaped")' >"$outside/evil.py"
escape() { # escape NAME EXPECTED-MESSAGE SPEC-LINES...
	local name=$1 msg=$2
	shift 2
	printf 'experiment: e2e\nname: %s\n' "$name" >"esc-$name.run.yaml"
	printf '%s\n' "$@" >>"esc-$name.run.yaml"
	am_rc rc validate "esc-$name.run.yaml"; assert_rc "$rc" 1 "validate $name"
	assert_grep "$msg" "$T/err"
	am_rc rc apply "esc-$name.run.yaml"; assert_rc "$rc" 1 "apply $name"
	rm "esc-$name.run.yaml"
}
escape dotdot "outside the workspace" "source_directory: ../outside" "script: evil.py"
escape deepdotdot "outside the workspace" "source_directory: src/../../outside" "script: evil.py"
escape absolute "outside the workspace" "source_directory: $outside" "script: evil.py"
ln -s "$outside" src-link
escape dirlink "outside the workspace" "source_directory: src-link" "script: evil.py"
escape scriptdotdot "resolves outside source_directory" "source_directory: src" "script: ../../outside/evil.py"
escape scriptabs "must be relative" "source_directory: src" "script: $outside/evil.py"
ln -s "$outside/evil.py" src/evil-link.py
escape scriptlink "resolves outside source_directory" "source_directory: src" "script: evil-link.py"
rm src/evil-link.py src-link
# a link out of the tree anywhere in the source: the snapshot refuses it
for target in /etc/passwd "../../outside/evil.py" "$outside"; do
	ln -s "$target" src/out-link
	am_rc rc apply run.yaml; assert_rc "$rc" 1 "link out of the tree ($target)"
	assert_grep "symbolic link points outside the source directory" "$T/err"
	rm src/out-link
done
ls "$WS/.amlspec/runs" | grep -c . | grep -qx 2 || fail "a refused spec started a run"
[ "$(cat "$outside/evil.py")" = 'print("escaped")' ] || fail "outside file changed"
pass "source and script paths that leave the workspace are refused"

# run ids that climb out of runs/: no run, nothing touched
mkdir -p "$outside/victim"
printf '{"run_id": "victim", "status": "Running", "target": "local", "pgid": 1}\n' >"$outside/victim/run.json"
before=$(cd "$outside/victim" && ls -A | tr '\n' ' ' && sha256sum run.json)
for bad in ../../../outside/victim "../" "." ".." "/etc" "$outside/victim"; do
	for verb in logs status cancel; do
		am_rc rc "$verb" "$bad"
		[ "$rc" = 1 ] || [ "$verb" = status ] || fail "$verb '$bad' exited $rc"
	done
done
# a state file that names a run outside runs/ (hand-edited or hostile)
python3 - "$WS/.amlspec/state.json" <<'PY'
import json, sys
st = json.load(open(sys.argv[1]))
st["specs"]["e2e/base"] = dict(st["specs"].get("e2e/base", {}), last_run="../../../outside/victim")
json.dump(st, open(sys.argv[1], "w"))
PY
am_rc rc plan run.yaml; assert_rc "$rc" 2 "plan with a hostile state entry"
assert_grep "Missing" "$T/out"
am_rc rc status; assert_rc "$rc" 0 "status with a hostile state entry"
after=$(cd "$outside/victim" && ls -A | tr '\n' ' ' && sha256sum run.json)
[ "$before" = "$after" ] || fail "a run id from the state reached outside .amlspec: $before -> $after"
pass "run ids from the command line and from state stay inside .amlspec/runs"
