#!/usr/bin/env bash
# bench/unreachable.sh: how long the function takes to fail when the SSM
# endpoint refuses connections.
#
# Starts the emulators (`session-audit emulate`, for S3), then runs, under
# /usr/bin/time, a backfill of the last DAYS whole days through the handler
# (`session-audit run --event`) with AWS_ENDPOINT_URL_SSM pointing at a
# closed loopback port (nothing listens on port 1), and prints the last
# lines of its error and its wall time.
#
# Usage: bench/unreachable.sh [BINARY]   (default: builds cmd/session-audit)
# Settings: DAYS=2  BENCH_DIR=/tmp/session-audit-unreachable
#           SSM_PORT=25583 S3_PORT=25572 (the emulators' ports)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/tmp/session-audit-unreachable}
DAYS=${DAYS:-2}
SSM_PORT=${SSM_PORT:-25583}
S3_PORT=${S3_PORT:-25572}
mkdir -p "$BENCH_DIR"
BIN=${1:-}
if [ -z "$BIN" ]; then
	BIN=$BENCH_DIR/session-audit
	(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -o "$BIN" ./cmd/session-audit)
fi

rm -rf "$BENCH_DIR/emu"
"$BIN" emulate --sessions 100 --days "$DAYS" --out "$BENCH_DIR/emu" \
	--ssm-addr "127.0.0.1:$SSM_PORT" --s3-addr "127.0.0.1:$S3_PORT" >"$BENCH_DIR/env" 2>"$BENCH_DIR/emu.log" &
EMU=$!
trap 'kill $EMU 2>/dev/null || true; wait $EMU 2>/dev/null || true' EXIT
for _ in $(seq 100); do
	grep -q AWS_REGION "$BENCH_DIR/env" 2>/dev/null && break
	sleep 0.1
done
printf '{"start":"%sT00:00:00Z","end":"%sT00:00:00Z"}\n' \
	"$(date -u -d "$DAYS days ago" +%Y-%m-%d)" "$(date -u +%Y-%m-%d)" >"$BENCH_DIR/event.json"
envs=()
while IFS= read -r line; do [ -n "$line" ] && envs+=("$line"); done < <(sed -n 's/^export //p' "$BENCH_DIR/env")
status=0
env -u AWS_CA_BUNDLE "${envs[@]}" AWS_ENDPOINT_URL_SSM=http://127.0.0.1:1 \
	/usr/bin/time -f "wall %e s, exit %x" -o "$BENCH_DIR/time.txt" \
	"$BIN" run --account 123456789012 --event "$BENCH_DIR/event.json" >"$BENCH_DIR/out" 2>"$BENCH_DIR/err" || status=$?
tail -1 "$BENCH_DIR/err" | cut -c1-400
echo "$DAYS slot(s): $(tail -1 "$BENCH_DIR/time.txt") (status $status)"
