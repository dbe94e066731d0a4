#!/usr/bin/env bash
# The main job end to end on the bundled fixture: set up a fresh Debian machine (as root), build the
# node-express fixture image, build its slim image (traced, written, loaded and verified), verify it once
# more as `slim verify` does, and bench the original against it for one round. Each step says where its
# time went. Extra arguments go to `slim build` (e.g. --json, --format markdown).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
npm run --silent build
node fixtures/build.mjs node-express

original=slim-fixture/node-express:v1
slim=slim-demo/node-express:v1-slim
recording=fixtures/node-express/recording.json
declare -a steps=()
step() {
  local name=$1 started=$SECONDS
  shift
  printf '\n== %s\n' "$name" >&2
  "$@"
  steps+=("$(printf '%-34s %4d s' "$name" $((SECONDS - started)))")
}

step "slim build (trace, write, verify)" node dist/src/cli.js build "$original" --record "$recording" --tag "$slim" "$@"
step "slim verify" node dist/src/cli.js verify "$original" "$slim" --record "$recording"
step "slim bench, one round" node dist/src/cli.js bench "$original" "$slim" --record "$recording" --rounds 1 --warm-rounds 1

printf '\n== where the demo spent its time\n' >&2
printf '%s\n' "${steps[@]}" >&2
