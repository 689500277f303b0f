#!/usr/bin/env bash
# The CI recipe's shell steps (docs/examples/amlspec-pr.sh) against a real
# repository with two commits: the comment holds the diff and the plan, exit
# code 2 from plan/diff is not a failure, an invalid spec is.
. "$(dirname "$0")/lib.sh"
make_ws
git checkout -q -b feature
sed -i 's/--lr, 0.1/--lr, 0.2/' run.yaml
git commit -q -am "tune lr"
export AMLSPEC AMLSPEC_COMMENT_FILE="$T/comment.md"
bash "$AMLSPEC_SOURCE_DIR/docs/examples/amlspec-pr.sh" main run.yaml >"$T/out" 2>&1 || { cat "$T/out"; fail "recipe failed on a valid change"; }
head -1 "$T/comment.md" | grep -q "amlspec-pr-comment" || fail "marker"
assert_grep "### amlspec diff main" "$T/comment.md"
assert_grep '"--lr","0.1"' "$T/comment.md"
assert_grep "### amlspec plan: 1 to create" "$T/comment.md"
[ "$(wc -c <"$T/comment.md")" -lt 65536 ] || fail "comment too large"
pass "recipe on a valid change"
echo "scrpit: oops" >>run.yaml
git commit -q -am broken
set +e; bash "$AMLSPEC_SOURCE_DIR/docs/examples/amlspec-pr.sh" main run.yaml >"$T/out" 2>&1; rc=$?; set -e
[ "$rc" = 1 ] || fail "recipe should fail on an invalid spec (rc $rc)"
assert_grep "### amlspec: errors" "$T/comment.md"
assert_grep "unknown key (did you mean 'script'?)" "$T/comment.md"
pass "recipe on an invalid spec"
