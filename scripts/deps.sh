#!/usr/bin/env bash
# Installs what foctet needs to build, test and demo on Debian 12.
# Safe to run again: it only calls apt when something is missing.
set -euo pipefail

packages=(
  meson ninja-build pkg-config gcc clang
  libglib2.0-dev gobject-introspection libgirepository1.0-dev
  libgnutls28-dev libngtcp2-dev libngtcp2-crypto-gnutls-dev libedit-dev libqrencode-dev
  gnutls-bin openssl python3-gi gir1.2-glib-2.0 procps gi-docgen
  golang-go golang-github-hashicorp-yamux-dev golang-github-lucas-clemente-quic-go-dev
  iproute2 nftables tcpdump avahi-daemon avahi-utils dbus-daemon zbar-tools
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#packages[@]} packages present" >&2
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo=sudo
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
