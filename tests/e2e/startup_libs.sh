#!/usr/bin/env bash
# libgit2, libcrypto and libcurl are opened on first use, not linked
# (src/util/dynlib.h): the binary does not name them, `validate` never opens
# them, and `apply` (snapshot, digests) opens libgit2 and libcrypto and still
# works.
source "$(dirname "$0")/lib.sh"
needed=$(readelf -d "$AMLSPEC" | grep NEEDED || true)
for lib in libgit2 libcrypto libcurl; do
	if grep -q "$lib" <<<"$needed"; then fail "amlspec links $lib at start-up:
$needed"; fi
done
pass "not linked: libgit2, libcrypto, libcurl"

mkdir -p "$WS/src" && cd "$WS"
git init -q . && printf 'version: 1\n' > amlspec.yaml
printf 'print("hello from the run")\n' > src/train.py
cat > run.yaml <<'YAML'
experiment: startup
source_directory: src
script: train.py
environment:
  python:
    user_managed_dependencies: true
YAML
LD_DEBUG=files "$AMLSPEC" validate run.yaml > "$T/out" 2> "$T/ld"
assert_grep "1 spec valid" "$T/out"
opened=$(grep -oE 'file=lib(git2|crypto|curl)[^ ]*' "$T/ld" | sort -u || true)
[ -z "$opened" ] || fail "validate opened $opened"
pass "validate opens none of them"

LD_DEBUG=files "$AMLSPEC" apply run.yaml > "$T/out" 2> "$T/ld" || { cat "$T/out"; fail "apply failed"; }
assert_grep "hello from the run" "$T/out"
grep -q 'file=libgit2' "$T/ld" || fail "apply did not open libgit2 (snapshot)"
pass "apply opens libgit2 on first use and runs"
