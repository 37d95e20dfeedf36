#!/usr/bin/env bash
# Builds local-kms (github.com/nsmithuk/local-kms), the KMS emulator that the
# signing tests run (internal/kmstest), once per machine, into a cache
# outside the repository, keyed by its version so that a version bump builds
# a new one. Does nothing when it is already there. It is built with
# `go install` from a temporary folder, not added to go.mod: it is a server,
# not a library of ours. Takes under a minute.
set -euo pipefail
KMS_VERSION=v0.0.0-20260228092603-2a5e92d09ab6
dir="$HOME/.cache/session-audit/local-kms/$KMS_VERSION"
if [ -x "$dir/local-kms" ]; then
  exit 0
fi
echo "building local-kms $KMS_VERSION into $dir (once per machine)" >&2
mkdir -p "$dir"
tmp=$(mktemp -d)
staging="$dir/.build.$$"
trap 'rm -rf "$tmp" "$staging"' EXIT
# From an empty folder, so the project's go.mod plays no part; installed
# beside its final place and renamed, so an interrupted build leaves nothing
# that looks finished.
cd "$tmp"
GOBIN="$staging" GOFLAGS=-buildvcs=false GOWORK=off go install "github.com/nsmithuk/local-kms@$KMS_VERSION"
mv "$staging/local-kms" "$dir/local-kms"
