#!/usr/bin/env bash
# Run after the test suite: fails when anything of slim's is left on the machine (temporary containers,
# untagged slim images, test tags, network namespaces and veths, bench engines' containerd namespaces,
# private engines or registries, temp dirs).
set -uo pipefail

found=0
report() {
  if [ -n "$2" ]; then
    echo "[leftovers] $1:" >&2
    printf '%s\n' "$2" | sed 's/^/  /' >&2
    found=1
  fi
}

report "temporary containers" "$(docker ps -a --filter label=slim.temporary --format '{{.Names}} {{.Status}}')"
report "untagged images written by slim" "$(docker images -a --filter label=io.slim.version --format '{{.Repository}}:{{.Tag}} {{.ID}}' | grep '^<none>')"
report "images tagged by tests" "$(docker images --format '{{.Repository}}:{{.Tag}}' | grep '^slim-test/')"
if command -v podman >/dev/null 2>&1; then
  report "temporary containers in Podman" "$(podman ps -a --filter label=slim.temporary --format '{{.Names}} {{.Status}}')"
  report "untagged images written by slim in Podman" "$(podman images -a --filter label=io.slim.version --format '{{.Repository}}:{{.Tag}} {{.ID}}' | grep '^<none>')"
  report "images tagged by tests in Podman" "$(podman images --format '{{.Repository}}:{{.Tag}}' | grep -E '^([a-z.]+/)?slim-test/')"
fi
report "network namespaces" "$(ip netns list 2>/dev/null | grep '^slim')"
report "veth pairs of shaped links" "$(ip -o link 2>/dev/null | grep -o ' sb-[0-9a-f]*-h' )"
report "containerd namespaces of bench engines" "$(ctr namespaces ls -q 2>/dev/null | grep '^slim-bench')"
report "private engines, containerds, stargz snapshotters and registries" "$(pgrep -af 'slim-bench-engine|slim-bench-containerd|slim-bench-podman|slim-registry|slim-stargz-snapshotter' | grep -v pgrep)"
report "mounts under slim's temporary directories" "$(awk '$2 ~ /\/slim-bench-/ {print $2}' /proc/mounts)"
report "temporary directories" "$(find "${SLIM_TMPDIR:-/tmp}" -maxdepth 1 -name 'slim-*' 2>/dev/null)"

if [ "$found" = 0 ]; then echo "[leftovers] none: no container, image, namespace, process or temp dir of slim's is left" >&2; fi
exit "$found"
