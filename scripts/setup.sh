#!/usr/bin/env bash
# Brings a fresh Debian machine (as root) to the state slim's tests need: the packages, a Docker engine
# without a bridge, and the npm dependencies. Idempotent: a second run only checks.
set -euo pipefail

log() { printf '[setup] %s\n' "$*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh must run as root (it installs packages and starts dockerd)" >&2
  exit 2
fi

need_pkgs=()
have() { command -v "$1" >/dev/null 2>&1; }
have dockerd || need_pkgs+=(docker.io)
have docker-registry || need_pkgs+=(docker-registry)
have mmdebstrap || need_pkgs+=(mmdebstrap)
have strace || need_pkgs+=(strace)
have skopeo || need_pkgs+=(skopeo)
have umoci || need_pkgs+=(umoci)
# ctr-remote reads eStargz layers: the tests check slim's TOCs with it
have ctr-remote || need_pkgs+=(stargz-snapshotter)
# Podman 4.3 and its Docker-compatible API service: the tests run node-express through it as well
have podman || need_pkgs+=(podman)
have ip || need_pkgs+=(iproute2)
have tc || need_pkgs+=(iproute2)
[ -x /usr/bin/time ] || need_pkgs+=(time)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

# No docker0 bridge and no iptables rules: containers use host networking and talk on 127.0.0.1 only.
mkdir -p /etc/docker
desired='{"bridge": "none", "iptables": false, "ip-forward": false, "ip-masq": false, "insecure-registries": ["198.18.0.0/15"]}'
if [ ! -f /etc/docker/daemon.json ] || [ "$(cat /etc/docker/daemon.json)" != "$desired" ]; then
  log "writing /etc/docker/daemon.json"
  printf '%s\n' "$desired" > /etc/docker/daemon.json
fi

engine_up() { timeout 10 docker info >/dev/null 2>&1; }
if ! engine_up; then
  if ip link show docker0 >/dev/null 2>&1; then ip link del docker0 || true; fi
  if ! pgrep -x containerd >/dev/null && have containerd; then
    setsid containerd >/var/log/containerd.log 2>&1 < /dev/null &
  fi
  if ! pgrep -x dockerd >/dev/null; then
    log "starting dockerd"
    setsid dockerd >/var/log/dockerd.log 2>&1 < /dev/null &
  fi
  for _ in $(seq 1 120); do
    engine_up && break
    sleep 0.5
  done
  engine_up || { echo "dockerd did not come up; see /var/log/dockerd.log" >&2; tail -20 /var/log/dockerd.log >&2; exit 1; }
fi
if ip link show docker0 >/dev/null 2>&1; then
  echo "a docker0 bridge exists: dockerd was started elsewhere without \"bridge\": \"none\"; stop it and rerun" >&2
  exit 1
fi
log "docker engine ready ($(docker version --format '{{.Server.Version}}'))"

# Podman's API service on its rootful socket, where `slim --engine podman` looks first. Podman keeps
# its own image store (/var/lib/containers), apart from dockerd's.
PODMAN_SOCKET=/run/podman/podman.sock
podman_up() { timeout 10 docker -H "unix://$PODMAN_SOCKET" version >/dev/null 2>&1; }
if ! podman_up; then
  log "starting podman system service"
  mkdir -p /run/podman
  setsid podman system service --time=0 "unix://$PODMAN_SOCKET" >/var/log/podman-service.log 2>&1 < /dev/null &
  for _ in $(seq 1 60); do
    podman_up && break
    sleep 0.5
  done
  podman_up || { echo "podman system service did not come up; see /var/log/podman-service.log" >&2; tail -20 /var/log/podman-service.log >&2; exit 1; }
fi
log "podman service ready ($(podman version --format '{{.Server.Version}}' 2>/dev/null || podman --version))"

# npm dependencies of the project itself.
cd "$(dirname "$0")/.."
if [ -f package-lock.json ]; then
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    log "npm ci"
    npm ci --no-audit --no-fund --loglevel=error
  fi
fi

# slim's stargz snapshotter daemon (stargz/snapshotter/main.go) for bench --node stargz: built offline
# from Debian's Go packages, skipped when it is up to date.
bash scripts/build-stargz-snapshotter.sh >/dev/null
