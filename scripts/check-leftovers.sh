#!/usr/bin/env bash
# Run after the test suite: fails when anything of slim's is left on the machine (temporary containers,
# untagged slim images, test tags, network namespaces and veths, bench engines' containerd namespaces,
# private engines or registries, temp dirs).
#
#   check-leftovers.sh                      everything of slim's on the machine is a leftover
#   check-leftovers.sh --baseline FILE      write what is there now to FILE, and fail on nothing
#   check-leftovers.sh --since FILE         only what FILE did not list is a leftover (what an earlier,
#                                           interrupted run left is named, but is not this run's)
set -uo pipefail

mode=all
file=
case "${1:-}" in
  --baseline) mode=baseline; file="${2:?--baseline needs a file}" ;;
  --since) mode=since; file="${2:?--since needs a file}" ;;
  '') ;;
  *) echo "check-leftovers.sh: unknown argument $1 (use --baseline FILE or --since FILE)" >&2; exit 2 ;;
esac

# One line per item: "<category>\t<item>".
collect() {
  local category="$1"
  local items="$2"
  [ -n "$items" ] && printf '%s\n' "$items" | sed "s|^|$category\t|"
  return 0
}

inventory() {
  collect "temporary containers" "$(docker ps -a --filter label=slim.temporary --format '{{.Names}} {{.Status}}')"
  collect "untagged images written by slim" "$(docker images -a --filter label=io.slim.version --format '{{.Repository}}:{{.Tag}} {{.ID}}' | grep '^<none>')"
  collect "images tagged by tests" "$(docker images --format '{{.Repository}}:{{.Tag}}' | grep '^slim-test/')"
  if command -v podman >/dev/null 2>&1; then
    collect "temporary containers in Podman" "$(podman ps -a --filter label=slim.temporary --format '{{.Names}} {{.Status}}')"
    collect "untagged images written by slim in Podman" "$(podman images -a --filter label=io.slim.version --format '{{.Repository}}:{{.Tag}} {{.ID}}' | grep '^<none>')"
    collect "images tagged by tests in Podman" "$(podman images --format '{{.Repository}}:{{.Tag}}' | grep -E '^([a-z.]+/)?slim-test/')"
  fi
  collect "network namespaces" "$(ip netns list 2>/dev/null | grep '^slim')"
  collect "veth pairs of shaped links" "$(ip -o link 2>/dev/null | grep -o ' sb-[0-9a-f]*-h' )"
  collect "containerd namespaces of bench engines" "$(ctr namespaces ls -q 2>/dev/null | grep '^slim-bench')"
  collect "private engines, containerds, stargz snapshotters and registries" "$(pgrep -af 'slim-bench-engine|slim-bench-containerd|slim-bench-podman|slim-registry|slim-stargz-snapshotter' | grep -v pgrep)"
  collect "mounts under slim's temporary directories" "$(awk '$2 ~ /\/slim-bench-/ {print $2}' /proc/mounts)"
  collect "temporary directories" "$(find "${SLIM_TMPDIR:-/tmp}" -maxdepth 1 -name 'slim-*' 2>/dev/null)"
}

# Prints the items of a listing grouped by category, each under its heading.
show() {
  awk -F '\t' -v heading="$1" 'NR == 1 && heading != "" { print heading } $1 != last { print "[leftovers] " $1 ":"; last = $1 } { print "  " $2 }' >&2
}

now="$(inventory)"
if [ "$mode" = baseline ]; then
  printf '%s\n' "$now" > "$file"
  if [ -n "$now" ]; then printf '%s\n' "$now" | show "[leftovers] there before the suite (an earlier, interrupted run's; not counted against this one):"; fi
  exit 0
fi

earlier=
if [ "$mode" = since ]; then earlier="$(cat "$file" 2>/dev/null)"; fi
new="$(printf '%s\n' "$now" | grep -vxF -f <(printf '%s\n' "$earlier") | grep -v '^$')"
[ -z "$earlier" ] && new="$now"

if [ -n "$new" ]; then
  printf '%s\n' "$new" | show ""
  exit 1
fi
echo "[leftovers] none: no container, image, namespace, process or temp dir of slim's is left" >&2
exit 0
