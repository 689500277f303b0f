#!/usr/bin/env bash
# diff between commits: field change, curated version bump, spec added and
# removed, renamed spec file; Markdown bounded on a 500-spec change.
. "$(dirname "$0")/lib.sh"
make_ws
mkdir -p specs
cat >specs/a.run.yaml <<'YAML'
experiment: rev
name: a
source_directory: ../src
script: train.py
arguments: [--lr, 0.1]
environment: AzureML-lightgbm-3.2-ubuntu18.04-py37-cpu@1
YAML
cat >specs/gone.run.yaml <<'YAML'
experiment: rev
name: gone
source_directory: ../src
script: train.py
YAML
cat >specs/old-name.run.yaml <<'YAML'
experiment: rev
name: moved
source_directory: ../src
script: train.py
YAML
git add -A && git commit -q -m v1
# v2: field change + curated bump, removal, rename, addition, code change
sed -i 's/--lr, 0.1/--lr, 0.3/; s/py37-cpu@1/py37-cpu@11/' specs/a.run.yaml
git rm -q specs/gone.run.yaml
git mv specs/old-name.run.yaml specs/new-name.run.yaml
cat >specs/new.run.yaml <<'YAML'
experiment: rev
name: new
source_directory: ../src
script: train.py
YAML
echo "# changed" >>src/train.py
git add -A && git commit -q -m v2

am_rc rc diff HEAD~1 HEAD; assert_rc "$rc" 2 "diff between commits"
assert_grep '~ rev/a  (specs/a.run.yaml)' "$T/out"
assert_grep 'arguments: \["--lr","0.1"\] -> \["--lr","0.3"\]' "$T/out"
assert_grep 'environment: AzureML-lightgbm-3.2-ubuntu18.04-py37-cpu@1 -> AzureML-lightgbm-3.2-ubuntu18.04-py37-cpu@11' "$T/out"
assert_grep 'pip: azureml-core==1.30.0 -> azureml-core==1.35.0' "$T/out"
assert_grep '^- rev/gone' "$T/out"
assert_grep '^+ rev/new' "$T/out"
assert_grep '^> rev/moved  (specs/old-name.run.yaml -> specs/new-name.run.yaml)' "$T/out"
assert_grep 'source src: 0 added, 1 modified, 0 removed' "$T/out"
# e2e/base (run.yaml) shares src/, so the code change changes it too
assert_grep '5 specs differ: 1 added, 1 removed, 2 changed, 1 renamed.' "$T/out"
assert_grep '~ e2e/base' "$T/out"
am_rc rc diff HEAD~1 HEAD --output json; assert_rc "$rc" 2 "diff json"
[ "$(json_get "$T/out" summary.renamed)" = 1 ] || fail "json summary"
am_rc rc diff; assert_rc "$rc" 0 "HEAD vs clean work tree"
assert_grep "No differences." "$T/out"
sed -i 's/--lr, 0.3/--lr, 0.4/' specs/a.run.yaml
am_rc rc diff; assert_rc "$rc" 2 "HEAD vs work tree"
assert_grep 'amlspec diff HEAD (' "$T/out"; assert_grep 'work tree' "$T/out"
am_rc rc diff HEAD~1 HEAD -- specs/gone.run.yaml; assert_rc "$rc" 2 "path filter"
assert_grep "1 spec differ" "$T/out"
git checkout -q specs/a.run.yaml
pass "diff between revisions"

# a 500-spec change stays under GitHub's comment limit
mkdir -p many
for i in $(seq 1 500); do
	printf 'experiment: sweep\nname: trial-%03d-with-a-rather-long-name-to-make-the-comment-large\nsource_directory: ../src\nscript: train.py\narguments: [--seed, %d, --lr, 0.001, --note, "%s"]\n' \
		"$i" "$i" "$(printf 'x%.0s' $(seq 1 80))" >"many/t$i.run.yaml"
done
git add -A && git commit -q -m sweep
am_rc rc diff HEAD~1 HEAD --output markdown; assert_rc "$rc" 2 "markdown diff"
size=$(wc -c <"$T/out"); [ "$size" -lt 65536 ] || fail "markdown diff is $size bytes"
assert_grep "500 specs differ" "$T/out"
am_rc rc plan many --output markdown; assert_rc "$rc" 2 "markdown plan"
size=$(wc -c <"$T/out"); [ "$size" -lt 65536 ] || fail "markdown plan is $size bytes"
assert_grep "500 to create" "$T/out"
assert_grep "amlspec plan --output json" "$T/out"
pass "markdown bounded ($size bytes for 500 specs)"
