#!/usr/bin/env bash
# Builds the Go programs the test environment runs (kube-apiserver, kubectl, etcd, helm)
# from the Go module proxy into a cache directory outside the repository.
#
#   go-binaries.sh <component> <version> <output-file>
#
# component: kube (kube-apiserver + kubectl), etcd, helm.
# The Go module proxy serves module sources, so each program is built from its module:
# Kubernetes needs `replace` lines that pin its staging modules (k8s.io/api, ...) to the
# published v0.x versions that match the release, because its own go.mod points them at
# ./staging directories that the published module cannot resolve.
set -euo pipefail

component=${1:?component}
version=${2:?version}
output=${3:?output file}

command -v go >/dev/null || { echo "go-binaries: 'go' is not installed; install Go 1.26 or newer (Debian: golang-go, or the Go toolchain) and retry" >&2; exit 3; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
export GOFLAGS=-mod=mod
export CGO_ENABLED=0
go mod init hookline.local/build >/dev/null 2>&1

build() { # build <output> <package>
  mkdir -p "$(dirname "$1")"
  go build -trimpath -ldflags "-s -w ${LDFLAGS:-}" -o "$1.tmp" "$2"
  mv "$1.tmp" "$1"
}

case "$component" in
  kube)
    go mod download k8s.io/kubernetes@"$version"
    gomod="$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/$version.mod"
    staging_version="v0.${version#v1.}"
    for module in $(sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$gomod"); do
      go mod edit -replace="$module=$module@$staging_version"
    done
    go get k8s.io/kubernetes/cmd/kube-apiserver@"$version" k8s.io/kubernetes/cmd/kubectl@"$version"
    git_version_flags="-X k8s.io/component-base/version.gitVersion=$version -X k8s.io/client-go/pkg/version.gitVersion=$version"
    git_version_flags="$git_version_flags -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "$version" | cut -d. -f2)"
    LDFLAGS="$git_version_flags" build "$output/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
    LDFLAGS="$git_version_flags" build "$output/kubectl" k8s.io/kubernetes/cmd/kubectl
    ;;
  etcd)
    go get go.etcd.io/etcd/server/v3@"$version"
    build "$output/etcd" go.etcd.io/etcd/server/v3
    ;;
  helm)
    go get helm.sh/helm/v3/cmd/helm@"$version"
    LDFLAGS="-X helm.sh/helm/v3/internal/version.version=$version" build "$output/helm" helm.sh/helm/v3/cmd/helm
    ;;
  *)
    echo "go-binaries: unknown component '$component' (expected kube, etcd or helm)" >&2
    exit 2
    ;;
esac
