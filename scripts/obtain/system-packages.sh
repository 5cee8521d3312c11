#!/usr/bin/env bash
# Installs, from Debian's packages, what the test environment needs from the system and
# the machine lacks: RabbitMQ (Erlang comes with it), a JDK and Maven for Kafka, openssl,
# Prometheus (prometheus and promtool, for the observability tests).
# Go is needed too (to build kube-apiserver, etcd, helm and the OpenTelemetry Collector)
# and must be 1.21 or newer.
# Neither the system RabbitMQ nor the system Prometheus service is left running: the tests
# run nodes and servers of their own on loopback ports.
set -euo pipefail

missing=()
[ -d /usr/lib/rabbitmq/lib ] && command -v epmd >/dev/null || missing+=(rabbitmq-server)
command -v java >/dev/null || missing+=(default-jdk-headless)
command -v mvn >/dev/null || missing+=(maven)
command -v openssl >/dev/null || missing+=(openssl)
command -v prometheus >/dev/null && command -v promtool >/dev/null || missing+=(prometheus)

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

echo "system-packages: installing ${missing[*]} from Debian's packages (first run only; about 1 to 3 minutes)" >&2
started=$(date +%s)
# Keep the packages' own RabbitMQ and Prometheus services from starting while they install.
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

# policy-rc.d keeps a service from starting, not from being enabled for the next boot:
# where systemd runs, disable Prometheus's (it would bind :9090) and stop it if it started.
if [[ " ${missing[*]} " == *" prometheus "* ]] && [ -d /run/systemd/system ]; then
  $sudo systemctl disable --now prometheus.service >/dev/null 2>&1 || true
fi
echo "system-packages: installed ${missing[*]} in $(($(date +%s) - started)) s" >&2
