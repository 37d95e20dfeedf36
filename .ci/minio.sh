#!/usr/bin/env bash
# Builds the MinIO server that the MinIO tests run (internal/miniotest), once
# per machine (.ci/gobin.sh). Its dependency graph is large: about 5 minutes
# and 150 MB.
set -euo pipefail
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
exec bash "$(dirname "$0")/gobin.sh" minio github.com/minio/minio "$MINIO_VERSION" --version
