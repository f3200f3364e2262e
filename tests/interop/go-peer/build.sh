#!/bin/sh
# Builds foctet-go-peer offline, in GOPATH mode, against the system copies of
# github.com/hashicorp/yamux and github.com/lucas-clemente/quic-go (Debian:
# golang-github-hashicorp-yamux-dev, golang-github-lucas-clemente-quic-go-dev
# in /usr/share/gocode), with yamux-foctet.go.in added to the yamux package
# through `go build -overlay` (nothing is written outside the build
# directory).
#
#   build.sh GO OUTPUT SOURCE_DIR WORK_DIR
#
# WORK_DIR receives the Go build cache and the overlay description.
# GOPATH may be overridden with FOCTET_GOPATH.
set -eu

if [ $# -ne 4 ]; then
  echo "usage: $0 GO OUTPUT SOURCE_DIR WORK_DIR" >&2
  exit 2
fi
go=$1 out=$2 src=$3 work=$4
abs() { case $1 in /*) printf '%s\n' "$1" ;; *) printf '%s/%s\n' "$PWD" "$1" ;; esac; }
out=$(abs "$out") src=$(abs "$src") work=$(abs "$work")
case $go in */*) go=$(abs "$go") ;; esac

mkdir -p "$work/cache" "$work/tmp"
export GO111MODULE=off GOPROXY=off GOFLAGS= GOENV=off GOTOOLCHAIN=local
export GOPATH="${FOCTET_GOPATH:-/usr/share/gocode}"
export GOCACHE="$work/cache" GOTMPDIR="$work/tmp"

cd "$src"
# package_dir PACKAGE DEBIAN_PACKAGE: the package's directory, or exit 1
# saying what to install.
package_dir() {
  if ! "$go" list -f '{{.Dir}}' "$1" 2>"$work/list.err"; then
    echo "foctet-go-peer: $1 not found in GOPATH=$GOPATH" \
         "(install $2): $(cat "$work/list.err")" >&2
    exit 1
  fi
}
ydir=$(package_dir github.com/hashicorp/yamux golang-github-hashicorp-yamux-dev)
package_dir github.com/lucas-clemente/quic-go golang-github-lucas-clemente-quic-go-dev >/dev/null
printf '{"Replace": {"%s/zz_foctet_ext.go": "%s/yamux-foctet.go.in"}}\n' "$ydir" "$src" >"$work/overlay.json"
exec "$go" build -trimpath -overlay "$work/overlay.json" -o "$out" .
