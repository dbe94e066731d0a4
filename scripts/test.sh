#!/usr/bin/env bash
# The test command: sets up everything on a fresh Debian machine (as root), then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
npm run --silent build
node fixtures/build.mjs
before="$(mktemp)"
trap 'rm -f "$before"' EXIT
bash scripts/check-leftovers.sh --baseline "$before"
node --test --test-concurrency=1 dist/test/unit/ dist/test/integration/
bash scripts/check-leftovers.sh --since "$before"
