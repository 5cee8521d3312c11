#!/usr/bin/env bash
# Builds Hookline's image from the project's Dockerfile with podman (buildah inside), on a
# machine that cannot pull base images: the Dockerfile is used as it is, but for its
# NODE_IMAGE and RUNTIME_IMAGE arguments, which point to two local base images assembled
# here from Debian's packages and the node-linux-<arch> npm package (the Node.js version
# scripts/with-node.sh uses):
#   - a build base (localhost/hookline-base/build): glibc, libstdc++, dash as /bin/sh,
#     node and npm; it trusts the CA certificates this machine trusts, so that `npm ci`
#     reaches the registry the way the machine's own npm does. It is never shipped.
#   - a runtime base (localhost/hookline-base/runtime), shaped like
#     gcr.io/distroless/nodejs24-debian12:nonroot: glibc, libstdc++, libgcc, CA
#     certificates, tzdata, node at /nodejs/bin/node, user 65532, no shell.
# Each base is tagged with a digest of its inputs (the recipe below, the .deb files' digests,
# the Node.js and npm versions) and rebuilt only when they change. The image build itself
# reuses podman's layer cache: only what changed is built again.
#
# Everything lives under ${HOOKLINE_CACHE:-~/.cache/hookline}/image: podman's configuration
# (config/), its storage (storage/), the .deb files (debs/) and npm (npm-<version>/).
# podman runs with host networking (`npm ci` needs the registry), runc and the cgroupfs
# cgroup manager, and no default ulimits: see scripts/image/podman.sh, which runs podman
# with this configuration (e.g. `bash scripts/image/podman.sh images`).
# podman, buildah and runc are installed from Debian's packages when missing.
#
#   bash scripts/image/build.sh [--tag NAME] [--upstream-bases]
#     --tag NAME          the image's name (default localhost/hookline:<package.json version>)
#     --upstream-bases    on a machine that can pull: the Dockerfile's own base images
# Progress goes to stderr; the last line on stdout is a JSON summary (image, id, timings).
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
cache="${HOOKLINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hookline}"
work="$cache/image"
config="$work/config"
version=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$repo/package.json")
tag="localhost/hookline:$version"
upstream=false
NODE_VERSION=$(sed -n 's/^NODE_VERSION=//p' "$repo/scripts/with-node.sh")
NPM_VERSION=11.19.1

while [ $# -gt 0 ]; do
  case "$1" in
    --tag) tag="$2"; shift 2 ;;
    --tag=*) tag="${1#--tag=}"; shift ;;
    --upstream-bases) upstream=true; shift ;;
    *) echo "usage: build.sh [--tag NAME] [--upstream-bases]" >&2; exit 2 ;;
  esac
done

say() { echo "image: $*" >&2; }
clock() { echo "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
pod() { bash "$repo/scripts/image/podman.sh" "$@"; }

case "$(uname -m)" in
  x86_64) arch=x64 debarch=amd64 ;;
  aarch64 | arm64) arch=arm64 debarch=arm64 ;;
  *) echo "image: no Node.js package for architecture $(uname -m)" >&2; exit 3 ;;
esac

mkdir -p "$work" "$config"
# One build at a time per cache: the bases' scratch folders are shared.
exec 9>"$work/lock"
if ! flock -n 9; then
  say "waiting for another build using $work"
  flock 9
fi

# --- podman, buildah and runc ---------------------------------------------------------
ensure_tools() {
  local missing=()
  for tool in podman buildah runc; do command -v "$tool" >/dev/null || missing+=("$tool"); done
  command -v dpkg-deb >/dev/null || { say "dpkg-deb is missing: this script needs a Debian-based machine"; exit 3; }
  [ ${#missing[@]} -eq 0 ] && return
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { say "need root (or sudo) to install: ${missing[*]}"; exit 3; }
    sudo=sudo
  fi
  local started
  started=$(clock)
  say "installing ${missing[*]} from Debian's packages (apt-get; about a minute, once)"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends podman buildah runc >/dev/null
  say "installed ${missing[*]} in $(since "$started") s"
}

# --- podman's configuration, in files under the cache ---------------------------------
write_config() {
  local driver="${HOOKLINE_STORAGE_DRIVER:-}"
  if [ -z "$driver" ]; then
    # Overlay cannot stack on an overlay filesystem; vfs works anywhere (copies, slower).
    if [ "$(findmnt -no FSTYPE -T "$work" 2>/dev/null)" = overlay ]; then driver=vfs; else driver=overlay; fi
  fi
  cat >"$config/containers.conf" <<EOF
# Written by scripts/image/build.sh; podman reads it through CONTAINERS_CONF.
[containers]
# The sandbox may forbid raising rlimits: set none.
default_ulimits = []
netns = "host"
log_driver = "k8s-file"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$work/run/events.log"
tmp_dir = "$work/run/libpod"
EOF
  cat >"$config/storage.conf" <<EOF
# Written by scripts/image/build.sh; podman reads it through CONTAINERS_STORAGE_CONF.
[storage]
driver = "$driver"
graphroot = "$work/storage"
runroot = "$work/run/storage"
EOF
  cat >"$config/registries.conf" <<EOF
# Written by scripts/image/build.sh; podman reads it through CONTAINERS_REGISTRIES_CONF.
# Short names (the Dockerfile's default node:24-bookworm-slim) mean Docker Hub.
unqualified-search-registries = ["docker.io"]
short-name-mode = "permissive"
EOF
  mkdir -p "$work/run"
}

# --- inputs of the bases --------------------------------------------------------------
BUILD_PACKAGES=(libc6 libgcc-s1 libstdc++6 dash base-files netbase ca-certificates)
RUNTIME_PACKAGES=(libc6 libgcc-s1 libstdc++6 base-files netbase ca-certificates tzdata)
declare -A deb_file deb_digest

# The .deb file name and SHA256 of each package, as apt would download it today.
resolve_debs() {
  local listing
  if ! listing=$(apt-get download --print-uris "$@" 2>/dev/null); then
    say "refreshing apt's package lists (apt-get update)"
    apt-get update -qq
    listing=$(apt-get download --print-uris "$@")
  fi
  local url file size digest
  while read -r url file size digest; do
    local package="${file%%_*}"
    deb_file[$package]="$file"
    deb_digest[$package]="${digest#SHA256:}"
  done <<<"$listing"
  for package in "$@"; do
    [ -n "${deb_file[$package]:-}" ] || { say "apt knows no package $package"; exit 3; }
  done
}

fetch_debs() {
  mkdir -p "$work/debs"
  local wanted=()
  for package in "$@"; do
    local file="$work/debs/${deb_file[$package]}"
    if [ -f "$file" ] && [ "$(sha256sum "$file" | cut -d' ' -f1)" = "${deb_digest[$package]}" ]; then continue; fi
    wanted+=("$package")
  done
  [ ${#wanted[@]} -eq 0 ] && return
  say "downloading ${wanted[*]} from Debian's packages into $work/debs"
  (cd "$work/debs" && apt-get download "${wanted[@]}" >/dev/null 2>&1) || {
    say "apt-get download ${wanted[*]} failed"
    exit 3
  }
}

node_binary() {
  local prefix="$cache/node-$NODE_VERSION"
  local binary="$prefix/node_modules/node-linux-$arch/bin/node"
  if [ ! -x "$binary" ]; then
    say "obtaining Node.js $NODE_VERSION from the npm registry (node-linux-$arch) into $prefix"
    mkdir -p "$prefix"
    npm install --no-save --no-package-lock --ignore-scripts=false --prefix "$prefix" \
      "node-linux-$arch@$NODE_VERSION" >&2
  fi
  echo "$binary"
}

npm_package() {
  local dir="$work/npm-$NPM_VERSION"
  if [ ! -f "$dir/package/bin/npm-cli.js" ]; then
    say "obtaining npm $NPM_VERSION from the npm registry into $dir"
    rm -rf "$dir" && mkdir -p "$dir"
    (cd "$dir" && npm pack --silent "npm@$NPM_VERSION" >/dev/null && tar -xzf "npm-$NPM_VERSION.tgz" && rm "npm-$NPM_VERSION.tgz")
  fi
  echo "$dir/package"
}

# The CA bundle the build trusts: the machine's own when it has one.
host_ca_bundle() {
  for file in "${NODE_EXTRA_CA_CERTS:-}" /etc/ssl/certs/ca-certificates.crt; do
    [ -n "$file" ] && [ -f "$file" ] && { echo "$file"; return; }
  done
}

# --- the recipes (their text is part of each base's digest) ---------------------------
# A root filesystem from the packages' contents (dpkg-deb -x: no maintainer scripts run),
# without documentation, manuals and translations.
unpack_packages() {
  local root="$1"
  shift
  rm -rf "$root" && mkdir -p "$root"
  for package in "$@"; do dpkg-deb -x "$work/debs/${deb_file[$package]}" "$root"; done
  rm -rf "$root"/usr/share/{doc,man,info,locale,lintian,bug,common-licenses} "$root"/usr/sbin/update-ca-certificates
  mkdir -p "$root"/{tmp,root,etc/ssl/certs}
  chmod 1777 "$root/tmp"
  chmod 0700 "$root/root"
  # What update-ca-certificates would write: every certificate the package ships.
  cat "$root"/usr/share/ca-certificates/mozilla/*.crt >"$root/etc/ssl/certs/ca-certificates.crt"
  printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\nprotocols: files\nservices: files\n' \
    >"$root/etc/nsswitch.conf"
}

recipe_runtime() {
  local root="$1" node="$2"
  unpack_packages "$root" "${RUNTIME_PACKAGES[@]}"
  mkdir -p "$root/nodejs/bin" "$root/home/nonroot"
  cp "$node" "$root/nodejs/bin/node"
  cp "$(dirname "$node")/../LICENSE" "$root/nodejs/LICENSE"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' \
    >"$root/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n' >"$root/etc/group"
  chown -R 0:0 "$root"
  chown 65532:65532 "$root/home/nonroot"
  chmod 0700 "$root/home/nonroot"
  cat >"$root.containerfile" <<'EOF'
FROM scratch
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 65532:65532
WORKDIR /home/nonroot
ENTRYPOINT ["/nodejs/bin/node"]
ADD rootfs.tar /
EOF
}

recipe_build() {
  local root="$1" node="$2" npm="$3" ca="$4"
  unpack_packages "$root" "${BUILD_PACKAGES[@]}"
  ln -sf dash "$root/bin/sh"
  mkdir -p "$root/usr/local/bin" "$root/usr/local/lib/node_modules"
  cp "$node" "$root/usr/local/bin/node"
  cp -r "$npm" "$root/usr/local/lib/node_modules/npm"
  for tool in npm npx; do
    printf '#!/bin/sh\nexec /usr/local/bin/node /usr/local/lib/node_modules/npm/bin/%s-cli.js "$@"\n' "$tool" \
      >"$root/usr/local/bin/$tool"
    chmod 0755 "$root/usr/local/bin/$tool"
  done
  [ -n "$ca" ] && cp "$ca" "$root/etc/ssl/certs/ca-certificates.crt"
  printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
  printf 'root:x:0:\n' >"$root/etc/group"
  chown -R 0:0 "$root"
  cat >"$root.containerfile" <<'EOF'
FROM scratch
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    HOME=/root
CMD ["/usr/local/bin/node"]
ADD rootfs.tar /
EOF
}

# Builds base `name` with `recipe args...` unless an image with the same inputs exists.
# Sets base_image, base_cached and base_seconds.
base() {
  local name="$1" inputs="$2"
  shift 2
  local digest started
  digest=$(printf '%s\n%s\n' "$(declare -f unpack_packages "$1")" "$inputs" | sha256sum | cut -c1-16)
  base_image="localhost/hookline-base/$name:$digest"
  started=$(clock)
  if pod image exists "$base_image"; then
    base_cached=true
    base_seconds=$(since "$started")
    say "$name base $base_image: cached"
    return
  fi
  say "assembling the $name base $base_image"
  local root="$work/bases/$name/rootfs"
  mkdir -p "$work/bases/$name"
  "$@" "$root"
  tar --sort=name --mtime=@0 --numeric-owner -C "$root" -cf "$work/bases/$name/rootfs.tar" .
  cp "$root.containerfile" "$work/bases/$name/Containerfile"
  pod build --quiet --layers=false --network host -t "$base_image" \
    -f "$work/bases/$name/Containerfile" "$work/bases/$name" >/dev/null
  rm -rf "$root" "$work/bases/$name/rootfs.tar"
  base_cached=false
  base_seconds=$(since "$started")
  say "$name base $base_image built in $base_seconds s ($(pod image inspect --format '{{.Size}}' "$base_image" | awk '{ printf "%.1f MB", $1 / 1e6 }'))"
}

# --- the build --------------------------------------------------------------------------
ensure_tools
write_config
say "podman storage and configuration: $work"

build_args=(--build-arg "VERSION=$version")
summary_bases="null"
if ! $upstream; then
  resolve_debs $(printf '%s\n' "${BUILD_PACKAGES[@]}" "${RUNTIME_PACKAGES[@]}" | sort -u)
  fetch_debs "${!deb_file[@]}"
  node=$(node_binary)
  npm=$(npm_package)
  ca=$(host_ca_bundle)
  debs_of() { for package in "$@"; do echo "$package ${deb_digest[$package]}"; done; }

  runtime_inputs="node $NODE_VERSION $debarch
$(debs_of "${RUNTIME_PACKAGES[@]}")
$(declare -f recipe_runtime)"
  recipe_runtime_with() { recipe_runtime "$1" "$node"; }
  base runtime "$runtime_inputs" recipe_runtime_with
  runtime_image=$base_image runtime_cached=$base_cached runtime_seconds=$base_seconds

  build_inputs="node $NODE_VERSION $debarch npm $NPM_VERSION
ca ${ca:+$(sha256sum "$ca" | cut -d' ' -f1)}
$(debs_of "${BUILD_PACKAGES[@]}")
$(declare -f recipe_build)"
  recipe_build_with() { recipe_build "$1" "$node" "$npm" "$ca"; }
  base build "$build_inputs" recipe_build_with
  build_image=$base_image build_cached=$base_cached build_seconds=$base_seconds

  build_args+=(--build-arg "NODE_IMAGE=$build_image" --build-arg "RUNTIME_IMAGE=$runtime_image")
  summary_bases=$(printf '{"build":{"image":"%s","cached":%s,"seconds":%s},"runtime":{"image":"%s","cached":%s,"seconds":%s}}' \
    "$build_image" "$build_cached" "$build_seconds" "$runtime_image" "$runtime_cached" "$runtime_seconds")
else
  say "using the Dockerfile's own base images (pulled)"
fi

say "building $tag from $repo/Dockerfile"
started=$(clock)
pod build --layers --network host "${build_args[@]}" -t "$tag" -f "$repo/Dockerfile" "$repo" >&2
image_seconds=$(since "$started")
id=$(pod image inspect --format '{{.Id}}' "$tag")
size=$(pod image inspect --format '{{.Size}}' "$tag")
say "built $tag ($(awk -v s="$size" 'BEGIN { printf "%.1f MB", s / 1e6 }')) in $image_seconds s"
printf '{"image":"%s","id":"%s","size":%s,"seconds":%s,"bases":%s,"storage":"%s"}\n' \
  "$tag" "$id" "$size" "$image_seconds" "$summary_bases" "$work/storage"
