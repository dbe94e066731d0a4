#!/usr/bin/env bash
# Builds slim's own lazy-pulling stargz snapshotter daemon (stargz/snapshotter/main.go) from Debian
# packages only: Go 1.19 and the stargz-snapshotter library with its dependencies, built offline in
# GOPATH mode. Also installs ctr-remote (eStargz convert, lazy rpull). Idempotent: skips the build
# when the binary is newer than main.go (and this script). Prints the binary's path on stdout.
#
#   scripts/build-stargz-snapshotter.sh [OUT]     (default /usr/local/lib/slim/slim-stargz-snapshotter)
#   SLIM_STARGZ_FORCE=1 forces a rebuild.
set -euo pipefail

log() { printf '[build-stargz] %s\n' "$*" >&2; }
die() { printf '[build-stargz] error: %s\n' "$*" >&2; exit 1; }

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="$here/../stargz/snapshotter"
out="${1:-/usr/local/lib/slim/slim-stargz-snapshotter}"
gocode=/usr/share/gocode
lib="$gocode/src/github.com/containerd/stargz-snapshotter/fs/fs.go"

[ -f "$src/main.go" ] || die "missing $src/main.go"
src="$(cd "$src" && pwd)"

if [ "${SLIM_STARGZ_FORCE:-0}" != 1 ] && [ -x "$out" ] && [ "$out" -nt "$src/main.go" ] \
  && [ "$out" -nt "${BASH_SOURCE[0]}" ]; then
  log "up to date: $out"
  echo "$out"
  exit 0
fi

need=()
command -v go >/dev/null 2>&1 || need+=(golang-go)
[ -f "$lib" ] || need+=(golang-github-containerd-stargz-snapshotter-dev)
command -v ctr-remote >/dev/null 2>&1 || need+=(stargz-snapshotter)
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || die "need root to install ${need[*]}"
  log "installing ${need[*]} (a few minutes the first time)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed"
  apt-get install -y -qq "${need[@]}" >/dev/null || die "apt-get install ${need[*]} failed"
fi
command -v go >/dev/null 2>&1 || die "go not on PATH after installing golang-go"
[ -f "$lib" ] || die "stargz-snapshotter library not found at $lib"

# GOPATH mode: every import resolves from Debian's /usr/share/gocode; the first GOPATH entry is
# ours (nothing is downloaded into it: GOPROXY=off, GOFLAGS cleared).
work="${SLIM_STARGZ_GOPATH:-/var/cache/slim/gopath}"
mkdir -p "$work" "$(dirname "$out")" || die "cannot create $work or $(dirname "$out")"
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
log "building $out (about 30 s)"
start=$(date +%s)
if ! (cd "$src" && GO111MODULE=off GOPATH="$work:$gocode" GOPROXY=off GOFLAGS= CGO_ENABLED=0 \
  GOCACHE="${GOCACHE:-$work/cache}" go build -trimpath -o "$tmp" .) >&2; then
  die "go build failed (GO111MODULE=off GOPATH=$work:$gocode in $src)"
fi
"$tmp" -h >/dev/null 2>&1 || [ $? -eq 2 ] || die "built binary does not run"
mv -f "$tmp" "$out"
log "built in $(( $(date +%s) - start )) s"
echo "$out"
