#!/usr/bin/env bash
# The shell steps of the pull-request workflow (github-workflow.yml), kept in
# one script so they can be run and tested anywhere:
#   amlspec-pr.sh BASE_REV [SPEC_PATH...]
# Writes the comment body to $AMLSPEC_COMMENT_FILE (default amlspec-comment.md)
# and exits 1 only on a real error: plan's and diff's exit code 2 means
# "there are changes", which is what a pull request is for.
set -uo pipefail
base=${1:?usage: amlspec-pr.sh BASE_REV [SPEC_PATH...]}
shift
paths=("$@")
[ ${#paths[@]} -gt 0 ] || paths=(.)
am=${AMLSPEC:-amlspec}
out=${AMLSPEC_COMMENT_FILE:-amlspec-comment.md}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

status=0
if ! "$am" validate "${paths[@]}" >"$tmp/validate.txt" 2>&1; then
	status=1
fi

"$am" diff "$base" HEAD --output markdown -- "${paths[@]}" >"$tmp/diff.md" 2>"$tmp/diff.err"
drc=$?
case $drc in 0|2) ;; *) status=1 ;; esac

"$am" plan --output markdown "${paths[@]}" >"$tmp/plan.md" 2>"$tmp/plan.err"
prc=$?
case $prc in 0|2) ;; *) status=1 ;; esac

{
	echo "<!-- amlspec-pr-comment -->"
	if [ $status -ne 0 ]; then
		echo "### amlspec: errors"
		echo
		echo '```'
		cat "$tmp/validate.txt" "$tmp/diff.err" "$tmp/plan.err" | head -c 20000
		echo '```'
		echo
	fi
	cat "$tmp/diff.md"
	echo
	cat "$tmp/plan.md"
} >"$out"
# the comment must fit GitHub's limit even with both parts
size=$(wc -c <"$out")
if [ "$size" -gt 65536 ]; then
	head -c 65000 "$out" >"$tmp/cut" && mv "$tmp/cut" "$out"
	printf '\n\n_Cut to fit a comment; run `amlspec plan --output json` for everything._\n' >>"$out"
fi
echo "amlspec: validate $([ $status -eq 0 ] && echo ok || echo FAILED), diff exit $drc, plan exit $prc; comment in $out"
exit $status
