#!/usr/bin/env bash
# podman as Hookline's image scripts and tests run it: its configuration comes from files
# under the cache (written by scripts/image/build.sh), never from /etc, so that a fresh
# machine behaves as this one does:
#   - storage (images, layers) under ${HOOKLINE_CACHE:-~/.cache/hookline}/image/storage;
#   - the runc runtime and the cgroupfs cgroup manager (crun refuses a hybrid cgroup
#     layout; without systemd there is no systemd cgroup manager);
#   - no default ulimits (a sandbox may forbid raising rlimits, and podman would try);
#   - host networking by default (no bridge, no NAT: nothing needs iptables).
#
#   bash scripts/image/podman.sh <podman arguments...>
#   bash scripts/image/podman.sh --print-env    the variables it sets, as shell assignments
set -euo pipefail

cache="${HOOKLINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hookline}"
config="$cache/image/config"

export CONTAINERS_CONF="$config/containers.conf"
export CONTAINERS_STORAGE_CONF="$config/storage.conf"
export CONTAINERS_REGISTRIES_CONF="$config/registries.conf"

if [ "${1:-}" = "--print-env" ]; then
  printf 'CONTAINERS_CONF=%q\nCONTAINERS_STORAGE_CONF=%q\nCONTAINERS_REGISTRIES_CONF=%q\n' \
    "$CONTAINERS_CONF" "$CONTAINERS_STORAGE_CONF" "$CONTAINERS_REGISTRIES_CONF"
  exit 0
fi

if [ ! -f "$CONTAINERS_CONF" ]; then
  echo "podman.sh: $CONTAINERS_CONF is missing; run scripts/image/build.sh first" >&2
  exit 3
fi
exec podman --runtime runc --cgroup-manager cgroupfs "$@"
