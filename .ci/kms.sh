#!/usr/bin/env bash
# Builds local-kms (github.com/nsmithuk/local-kms), the KMS emulator that the
# signing tests run (internal/kmstest), once per machine (.ci/gobin.sh).
# Takes under a minute.
set -euo pipefail
KMS_VERSION=v0.0.0-20260228092603-2a5e92d09ab6
exec bash "$(dirname "$0")/gobin.sh" local-kms github.com/nsmithuk/local-kms "$KMS_VERSION"
