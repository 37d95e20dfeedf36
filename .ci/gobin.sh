#!/usr/bin/env bash
# Usage: gobin.sh NAME MODULE VERSION [CHECK-ARGS...]
# Builds the server MODULE@VERSION (its binary NAME) that some tests run,
# once per machine, into $HOME/.cache/session-audit/NAME/VERSION, so that a
# version bump builds a new one. Does nothing when it is already there. It
# is built with `go install` from a temporary folder, not added to go.mod:
# it is a server, not a library of ours. With CHECK-ARGS, the built binary
# is run with them once (e.g. --version). .ci/minio.sh and .ci/kms.sh name
# the versions.
set -euo pipefail
name=$1 module=$2 version=$3
shift 3
dir="$HOME/.cache/session-audit/$name/$version"
if [ -x "$dir/$name" ]; then
  exit 0
fi
echo "building $name $version into $dir (once per machine)" >&2
mkdir -p "$dir"
tmp=$(mktemp -d)
staging="$dir/.build.$$"
trap 'rm -rf "$tmp" "$staging"' EXIT
# From an empty folder, so the project's go.mod plays no part; installed
# beside its final place and renamed, so an interrupted build leaves nothing
# that looks finished.
cd "$tmp"
GOBIN="$staging" GOFLAGS=-buildvcs=false GOWORK=off go install "$module@$version"
mv "$staging/$name" "$dir/$name"
if [ $# -gt 0 ]; then
  "$dir/$name" "$@" >&2
fi
