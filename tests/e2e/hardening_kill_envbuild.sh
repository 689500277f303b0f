#!/usr/bin/env bash
# kill -9 of apply while it builds an environment: a half-built environment
# is never published and never used, and the next apply cleans up and builds
# it again.
#  1. A fake, instant builder (a python3.11 first on PATH whose `-m venv`
#     writes a wrapper and whose pip records what it installed) makes the
#     build cheap, so strace can kill apply at every clone, wait4 (each build
#     step), chmod (the build folder), symlink and rename (env.json, the
#     publishing link), fsync and fcntl (the build lock) of one apply.
#     The run itself checks from inside that its environment is complete.
#  2. With the real python3 -m venv and pip (a local wheelhouse, no network):
#     apply killed during `python -m venv`; the next apply builds for real.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hardening_lib.bash"
need_strace
make_ws
real_python=$(python3 -c 'import sys; print(sys.executable)')
fake="$T/fakebin"
mkdir -p "$fake"
cat >"$fake/python3.11" <<SH
#!/bin/sh
# a fake interpreter for fault injection: an instant "venv"
if [ "\$1" = --version ]; then echo "Python 3.11.99"; exit 0; fi
if [ "\$1" = -m ] && [ "\$2" = venv ]; then
	mkdir -p "\$3/bin" "\$3/lib" || exit 1
	cat >"\$3/bin/python" <<'INNER'
#!/bin/sh
here=\$(cd "\$(dirname "\$0")/.." && pwd)
if [ "\$1" = --version ]; then echo "Python 3.11.99"; exit 0; fi
if [ "\$1" = -m ] && [ "\$2" = pip ]; then shift 2; echo "fake pip \$*"; echo "\$*" >"\$here/lib/pip-installed"; exit 0; fi
export FAKE_VENV="\$here"
exec $real_python "\$@"
INNER
	chmod +x "\$3/bin/python"
	exit 0
fi
exec $real_python "\$@"
SH
chmod +x "$fake/python3.11"
cat >src/envcheck.py <<'PY'
import os, sys
venv = os.environ.get("FAKE_VENV")
assert venv, "not started by the environment's python"
assert os.path.isfile(os.path.join(venv, "env.json")), "environment without env.json"
assert "amlspec_tinypkg" in open(os.path.join(venv, "lib", "pip-installed")).read(), "pip step missing"
print("environment complete:", venv, flush=True)
PY
cat >e.run.yaml <<'YAML'
experiment: e2e
name: env
source_directory: src
script: envcheck.py
environment:
  python:
    version: "3.11"
    pip_packages: [amlspec_tinypkg==0.1.0]
YAML
rm run.yaml
export PATH="$fake:$PATH"
tpl="$T/tpl"
mkdir -p "$tpl/cache"
cp -a "$WS" "$tpl/ws"
: >"$T/points"
for sc in clone wait4 chmod symlink rename fsync fcntl; do
	fault_sweep "$tpl" "$sc" 1 "e2e/env" e.run.yaml
done
grep -q '^symlink [0-9]* killed symlink(".build-' "$T/points" || fail "no kill at the publishing link"
grep -q '^rename [0-9]* killed rename(".*/envs/.build-.*/env.json' "$T/points" || fail "no kill at env.json"
grep -q '^rename [0-9]* killed rename(".*/envs/[0-9a-f]*.tmp"' "$T/points" || fail "no kill at the publishing rename"
killed=$(grep -c ' killed ' "$T/points" || true)
pass "kill -9 during a (fast) environment build at $(wc -l <"$T/points") points ($killed kills): never published half-built"

# 2. the real builder
PATH=${PATH#"$fake:"}
make_wheelhouse
export XDG_CACHE_HOME="$T/realcache"
cat >src/tiny.py <<'PY'
import sys, amlspec_tinypkg
print("tiny", amlspec_tinypkg.__version__, sys.prefix, flush=True)
PY
cat >r.run.yaml <<'YAML'
experiment: e2e
name: real
source_directory: src
script: tiny.py
environment:
  python:
    pip_packages: [amlspec_tinypkg==0.2.0]
YAML
mkdir -p "$T/real"
cp -a "$WS" "$T/real/ws"
kill_point "$T/real" wait4 1 r.run.yaml
[ "$KP_RC" = 137 ] || fail "apply was not killed during python -m venv ($KP_RC)"
ls -a "$XDG_CACHE_HOME/amlspec/envs" | grep -q '^\.build-' || fail "the killed build left nothing to clean up"
hcheck cache "$XDG_CACHE_HOME" || fail "half-built environment published"
cd "$T/real/ws"
am_rc rc status; assert_rc "$rc" 0 "status after the killed build"
am_rc rc apply r.run.yaml; assert_rc "$rc" 0 "apply after the killed build"
assert_grep "removing an unfinished build" "$T/err"
assert_grep "tiny 0.2.0" "$T/out"
hcheck cache "$XDG_CACHE_HOME" --after-build || fail "cache after the real rebuild"
hcheck check "$T/real/ws" --final e2e/real || fail "invariants after the real rebuild"
pass "kill -9 during python -m venv: the next apply removes the leftovers and builds again"
