#!/usr/bin/env bash
# Installs, from Debian's packages, what the test environment needs from the system and
# the machine lacks: RabbitMQ (Erlang comes with it), a JDK and Maven for Kafka, openssl.
# Go is needed too (to build kube-apiserver, etcd and helm) and must be 1.21 or newer.
# The system RabbitMQ service is not started: the environment runs a node of its own.
set -euo pipefail

missing=()
[ -d /usr/lib/rabbitmq/lib ] && command -v epmd >/dev/null || missing+=(rabbitmq-server)
command -v java >/dev/null || missing+=(default-jdk-headless)
command -v mvn >/dev/null || missing+=(maven)
command -v openssl >/dev/null || missing+=(openssl)

if ! command -v go >/dev/null; then
  echo "system-packages: Go is not installed; install Go 1.21 or newer (Debian's golang-go is too old on bookworm)." >&2
  echo "                 With Go 1.21+ present, newer toolchains come from the Go module proxy by themselves." >&2
  exit 3
fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "system-packages: need root (or sudo) to install: ${missing[*]}" >&2; exit 3; }
  sudo=sudo
fi

echo "system-packages: installing ${missing[*]} from Debian's packages" >&2
# Keep the package's own RabbitMQ service from starting while it installs.
policy=/usr/sbin/policy-rc.d
placed_policy=false
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod +x "$policy"
  placed_policy=true
fi
cleanup() { if $placed_policy; then $sudo rm -f "$policy"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
