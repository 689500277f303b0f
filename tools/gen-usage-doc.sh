#!/usr/bin/env bash
# Regenerates docs/usage.md from a real session: every output in it is what
# the built binary printed, in a fresh workspace (a git repository).
#   tools/gen-usage-doc.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
am="$PWD/${1:-build}/amlspec"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export NO_COLOR=1 XDG_CACHE_HOME="$T/cache" PIP_NO_INDEX=1 PIP_FIND_LINKS=
out="$src/docs/usage.md"
ws="$T/vision"
mkdir -p "$ws"
cp -r specs/examples/iris-logreg "$ws/iris"
cd "$ws"
git init -q -b main . && git config user.email dev@example.invalid && git config user.name dev
git remote add origin https://git.example.invalid/vision/models.git
printf 'version: 1\nworkspace: vision\n' >amlspec.yaml
printf '.amlspec/\n' >.gitignore
git add -A && git commit -q -m "iris baseline"

run() { # run "shown command" cmd...   -> a console block
	local shown=$1; shift
	echo '```console'
	echo "\$ $shown"
	set +e
	"$@" 2>&1 | sed -e "s|$T|/tmp/demo|g" -e "s|$HOME|~|g"
	local rc=${PIPESTATUS[0]}
	set -e
	[ "$rc" = 0 ] || echo "(exit $rc)"
	echo '```'
}

{
cat <<'MD'
# Using amlspec

Every output below was printed by amlspec in a fresh git repository (regenerate with
`tools/gen-usage-doc.sh`). Paths under `/tmp/demo` are the session's temporary folder.

## validate

Checks specs (files, or folders searched for `run.yaml` and `*.run.yaml`) and `amlspec.yaml`. Every problem in
one pass, with the key path and a "did you mean"; exit 1 when anything is wrong.
MD
run "amlspec validate iris" "$am" validate iris
cat >"$T/broken.run.yaml" <<'YAML'
experiment: iris demo
scrpit: train.py
environment: AzureML-Minimall
target: lcoal
limits: {timeout: 2x}
YAML
cp "$T/broken.run.yaml" iris/broken.run.yaml
run "amlspec validate iris/broken.run.yaml" "$am" validate iris/broken.run.yaml
run "amlspec validate iris/broken.run.yaml --output json | head -20" bash -c "\"$am\" validate iris/broken.run.yaml --output json | head -20"
rm iris/broken.run.yaml
cat <<'MD'

## plan

What apply would do and why. Exit 0: nothing to do; 2: changes; 1: error. `--output json` and
`--output markdown` (for pull-request comments) show the same plan; `-out FILE` saves it for `apply FILE`.
MD
run "amlspec plan iris/run.yaml" "$am" plan iris/run.yaml
cat <<'MD'

## apply

Snapshots the source folder, builds (or reuses) the environment, records git provenance, starts the run under
a supervisor, streams the driver log and records the outcome. An unchanged spec is not run again.
MD
run "amlspec apply iris/run.yaml" "$am" apply iris/run.yaml
run "amlspec apply iris/run.yaml" "$am" apply iris/run.yaml
id=$(ls .amlspec/runs | head -1)
sed -i 's/--lr, 0.5/--lr, 0.3/' iris/run.yaml
echo "# use a smaller step" >>iris/src/train.py
run "amlspec plan iris/run.yaml   # after changing --lr and train.py" "$am" plan iris/run.yaml
cat <<'MD'

## status

All runs, newest first, and the specs that drifted from their last run; with a run id (or a unique prefix),
that run in full.
MD
run "amlspec status" "$am" status
run "amlspec status ${id:0:20}" "$am" status "${id:0:20}"
cat <<'MD'

## logs and cancel

`logs RUN_ID` prints the driver log (`-f` follows it to the end of the run); `cancel RUN_ID` stops a run
(SIGTERM to its process group, SIGKILL after a grace period) and records it as Canceled.
MD
run "amlspec logs ${id:0:20}" "$am" logs "${id:0:20}"
cat <<'MD'

## diff

The meaning of a change between two git revisions (default: HEAD against the work tree), read with libgit2.
MD
run "amlspec diff" "$am" diff
git commit -q -am "tune lr"
run "amlspec diff HEAD~1 HEAD --output markdown" "$am" diff HEAD~1 HEAD --output markdown
cat <<'MD'

## envs and lock

The curated catalog (built in, plus the folders listed under `catalogs:` in `amlspec.yaml`), and one
environment resolved to its canonical definition and digest. `amlspec.lock` pins unpinned curated references.
MD
run "amlspec envs list" "$am" envs list
run "amlspec envs show AzureML-Minimal@36" "$am" envs show AzureML-Minimal@36
cat >iris/curated.run.yaml <<'YAML'
experiment: iris-demo
name: curated
source_directory: src
script: train.py
environment: AzureML-lightgbm-3.2-ubuntu18.04-py37-cpu
YAML
run "amlspec lock iris" "$am" lock iris
run "cat amlspec.lock" cat amlspec.lock
} >"$out"
echo "wrote $out"
