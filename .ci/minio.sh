#!/usr/bin/env bash
# Builds the MinIO server that the MinIO tests run (internal/miniotest), once
# per machine, into a cache outside the repository, keyed by its version so
# that a version bump builds a new one. Does nothing when it is already
# there. It is built with `go install` from a temporary folder, not added to
# go.mod: its dependency graph is large. Takes about 5 minutes and 150 MB.
set -euo pipefail
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
dir="$HOME/.cache/session-audit/minio/$MINIO_VERSION"
if [ -x "$dir/minio" ]; then
  exit 0
fi
echo "building MinIO $MINIO_VERSION into $dir (once per machine, a few minutes)" >&2
mkdir -p "$dir"
tmp=$(mktemp -d)
staging="$dir/.build.$$"
trap 'rm -rf "$tmp" "$staging"' EXIT
# From an empty folder, so the project's go.mod plays no part; installed
# beside its final place and renamed, so an interrupted build leaves nothing
# that looks finished.
cd "$tmp"
GOBIN="$staging" GOFLAGS=-buildvcs=false GOWORK=off go install "github.com/minio/minio@$MINIO_VERSION"
mv "$staging/minio" "$dir/minio"
"$dir/minio" --version >&2
