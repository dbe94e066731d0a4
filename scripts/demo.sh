#!/usr/bin/env bash
# The main job end to end on the bundled fixture: set up a fresh Debian machine (as root), build the
# node-express fixture image, and analyze it with a traced run of its recording. Extra arguments go to
# `slim analyze` (e.g. --json).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
npm run --silent build
node fixtures/build.mjs node-express
node dist/src/cli.js analyze slim-fixture/node-express:v1 --record fixtures/node-express/recording.json "$@"
