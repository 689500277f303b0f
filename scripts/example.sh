#!/usr/bin/env bash
# The main job on the bundled example: install what is missing, build, then
# validate, plan and apply specs/examples/iris-logreg, and show its status.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh run
bash scripts/build.sh build
am=./build/amlspec
ex=specs/examples/iris-logreg/run.yaml
echo "\$ amlspec validate specs/examples"; $am validate specs/examples
echo "\$ amlspec envs show AzureML-Minimal@36 (a curated environment, resolved)"; $am envs show AzureML-Minimal@36 | head -5
echo "\$ amlspec plan $ex"; $am plan "$ex" || [ $? -eq 2 ]
echo "\$ amlspec apply $ex"; $am apply "$ex"
echo "\$ amlspec apply $ex   (again: nothing to do)"; $am apply "$ex"
echo "\$ amlspec status --workspace specs/examples"; $am status --workspace specs/examples
