#!/usr/bin/env bash
# bench/function.sh: the whole function, measured as a process of its own.
#
# Builds the CLI (cmd/session-audit) and the naive baseline (bench/cmd/naive),
# then for each N sessions in one UTC day (yesterday) and each latency starts
# the emulator binary in its own process (`session-audit emulate --sessions N
# --days 1 --from <day> --latency L`) and runs, under /usr/bin/time -v, the
# function path (`session-audit run --account 123456789012 --event <backfill
# of that day>`, the handler the Lambda runs, configured from the emulator's
# environment through the SDK default chain), then the naive baseline on the
# same emulator. The emulator's CPU and memory are not counted.
#
# Usage: bench/function.sh [all|table|sweep|throttle|coldstart]   (default: all)
#   table      N x latency table, ours and naive
#   sweep      AUDIT_CONCURRENCY 1..32 at 20 ms on SWEEP_N sessions
#   throttle   20 ms with a share of calls throttled (THROTTLE_RATES; empty
#              skips it), then LIMIT_N sessions under a token-bucket rate
#              limit of each of RATE_LIMITS calls/s with burst LIMIT_BURST
#              (wall against the bound, throttled share, the limiter's rate
#              over time for the last rate)
#   coldstart  bootstrap size (arm64, zipped) and init time
#
# Settings (environment):
#   SIZES="10000 100000 1000000"  LATENCIES="0ms 20ms"  NAIVE=1
#   SWEEP_N=100000  SWEEP_STREAMS="1 2 4 8 16 32"  THROTTLE_RATES="0.01 0.05"
#   RATE_LIMITS="2 10 50"  LIMIT_N=30000  LIMIT_BURST=5
#   FUNCTION_BIN=path   another build of the CLI to run as the function in
#                       the rate-limit table (A/B against an older build)
#   FUNCTION_ENV="GOMEMLIMIT=96MiB GOGC=400"   extra environment of the function runs
#   PROFILE=1        run the function under bench/cmd/profile (CPU and heap
#                    profiles in the work folder)
#   BENCH_DIR=/tmp/session-audit-bench   work folder (binaries, emulator files)
#   SSM_PORT, S3_PORT   emulator ports (default: the first free ones from
#                       24583 and 24572, not the emulator's defaults, so a
#                       developer's `emulate` keeps those)
#   ACCOUNT=123456789012
#
# Compare figures of one run: the machine may be shared.
set -euo pipefail

MODE=${1:-all}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/tmp/session-audit-bench}
SIZES=${SIZES:-"10000 100000 1000000"}
LATENCIES=${LATENCIES:-"0ms 20ms"}
NAIVE=${NAIVE:-1}
SWEEP_N=${SWEEP_N:-100000}
SWEEP_STREAMS=${SWEEP_STREAMS:-"1 2 4 8 16 32"}
THROTTLE_RATES=${THROTTLE_RATES-"0.01 0.05"}
RATE_LIMITS=${RATE_LIMITS:-"2 10 50"}
LIMIT_N=${LIMIT_N:-30000}
LIMIT_BURST=${LIMIT_BURST:-5}
FUNCTION_ENV=${FUNCTION_ENV:-}
PROFILE=${PROFILE:-0}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
	local p=$1
	while port_in_use "$p"; do p=$((p + 10)); done
	echo "$p"
}
SSM_PORT=${SSM_PORT:-$(free_port 24583)}
S3_PORT=${S3_PORT:-$(free_port 24572)}
ACCOUNT=${ACCOUNT:-123456789012}
GO=${GO:-go}

mkdir -p "$BENCH_DIR"
BIN=$BENCH_DIR/session-audit
NAIVE_BIN=$BENCH_DIR/naive
PROFILE_BIN=$BENCH_DIR/profile
EVENT=$BENCH_DIR/backfill.json
EMU_PID=

stop_emulator() {
	if [ -n "$EMU_PID" ] && kill -0 "$EMU_PID" 2>/dev/null; then
		kill "$EMU_PID" 2>/dev/null || true
		wait "$EMU_PID" 2>/dev/null || true
	fi
	EMU_PID=
}
trap stop_emulator EXIT
trap 'stop_emulator; exit 130' INT TERM

if [ ! -x /usr/bin/time ]; then
	echo "installing GNU time (apt-get install -y time)" >&2
	apt-get install -y time >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y time >/dev/null; }
fi

build() {
	echo "# building into $BENCH_DIR" >&2
	(cd "$ROOT" && CGO_ENABLED=0 $GO build -trimpath -o "$BIN" ./cmd/session-audit \
		&& CGO_ENABLED=0 $GO build -trimpath -o "$NAIVE_BIN" ./bench/cmd/naive \
		&& CGO_ENABLED=0 $GO build -trimpath -o "$PROFILE_BIN" ./bench/cmd/profile)
}

# The day: yesterday (UTC), whole, inside the 30-day History horizon.
DAY=$(date -u -d yesterday +%Y-%m-%d)
NEXT=$(date -u +%Y-%m-%d)
printf '{"start":"%sT00:00:00Z","end":"%sT00:00:00Z"}\n' "$DAY" "$NEXT" >"$EVENT"

# start_emulator N LATENCY [THROTTLE_RATE [FLAGS...]]: starts the emulator
# and loads its environment (export lines) into EMU_ENV.
start_emulator() {
	local n=$1 latency=$2 throttle=${3:-0}
	shift 3 2>/dev/null || shift $#
	stop_emulator
	for port in "$SSM_PORT" "$S3_PORT"; do
		if port_in_use "$port"; then
			echo "port $port is in use; set SSM_PORT/S3_PORT" >&2
			exit 1
		fi
	done
	rm -rf "$BENCH_DIR/emu" "$BENCH_DIR/emu.env"
	"$BIN" emulate --sessions "$n" --days 1 --from "${DAY}T00:00:00Z" --latency "$latency" \
		--throttle-rate "$throttle" "$@" --out "$BENCH_DIR/emu" \
		--ssm-addr "127.0.0.1:$SSM_PORT" --s3-addr "127.0.0.1:$S3_PORT" \
		>"$BENCH_DIR/emu.env" 2>"$BENCH_DIR/emu.log" &
	EMU_PID=$!
	for _ in $(seq 600); do
		if grep -q '^export AWS_REGION=' "$BENCH_DIR/emu.env" 2>/dev/null && grep -q 'A backfill' "$BENCH_DIR/emu.log" 2>/dev/null; then
			break
		fi
		kill -0 "$EMU_PID" 2>/dev/null || { cat "$BENCH_DIR/emu.log" >&2; exit 1; }
		sleep 0.1
	done
	EMU_ENV=$(sed -n 's/^export //p' "$BENCH_DIR/emu.env")
}

# measure NAME N LATENCY CMD...: runs CMD under /usr/bin/time -v with the
# emulator's environment and prints one table row.
measure() {
	local name=$1 n=$2 latency=$3
	shift 3
	local out=$BENCH_DIR/out.json err=$BENCH_DIR/err.txt tv=$BENCH_DIR/time.txt
	local envs=() line
	while IFS= read -r line; do [ -n "$line" ] && envs+=("$line"); done <<<"$EMU_ENV"
	# The SDK would read this machine's AWS_CA_BUNDLE; the emulators speak plain HTTP.
	local status=0
	env -u AWS_CA_BUNDLE -u AWS_PROFILE "${envs[@]}" $FUNCTION_ENV /usr/bin/time -v -o "$tv" "$@" >"$out" 2>"$err" || status=$?
	if [ "$status" != 0 ]; then
		echo "| $name | $n | $latency | FAILED (exit $status): $(tail -1 "$err" | tr '|' '/') |"
		return
	fi
	local wall user sys rss rows calls
	wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,p,":"); s=0; for(i=1;i<=n;i++) s=s*60+p[i]; print s}' "$tv")
	user=$(awk -F': ' '/User time/ {print $2}' "$tv")
	sys=$(awk -F': ' '/System time/ {print $2}' "$tv")
	rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$tv")
	rows=$(grep -o '"rows": *[0-9]*' "$out" | tail -1 | grep -o '[0-9]*$' || echo "?")
	calls=$(grep -o 'calls=[0-9]*' "$err" | tail -1 | cut -d= -f2 || true)
	[ -n "$calls" ] || calls=$(grep -o '"calls": *[0-9]*' "$out" | tail -1 | grep -o '[0-9]*$' || echo "?")
	# Calls that lost their connection to the SDK's request-body race with a
	# fast local server (aws/aws-sdk-go-v2#2737) and were retried after a
	# back-off: they explain the occasional second or two of extra wall time.
	local resets
	resets=$(grep -c 'use of closed network connection' "$err" || true)
	local ms=${latency%ms}
	awk -v name="$name" -v n="$n" -v lat="$latency" -v ms="$ms" -v wall="$wall" -v user="$user" -v sys="$sys" \
		-v rss="$rss" -v rows="$rows" -v calls="$calls" -v resets="$resets" 'BEGIN {
		bound = (n + 199 - (n + 199) % 200) / 200 * ms / 1000
		ratio = bound > 0 ? sprintf("%.3f", wall / bound) : "-"
		printf "| %s | %d | %s | %.2f | %.1f | %s | %.2f | %.1f | %s | %s | %s |\n", name, n, lat, wall, bound, ratio, user + sys, rss / 1024, rows, calls, resets
	}'
}

header() {
	echo "| variant | sessions | latency | wall s | seq bound s | ratio | user+sys s | peak RSS MiB | rows | calls | conn resets |"
	echo "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
}

function_cmd() {
	if [ "$PROFILE" = 1 ]; then
		echo "env PROFILE_CPU=$BENCH_DIR/cpu-$1-$2.prof PROFILE_HEAP=$BENCH_DIR/heap-$1-$2.prof $PROFILE_BIN"
	else
		echo "$BIN"
	fi
}

table() {
	echo
	echo "## Function vs naive baseline (day $DAY; ratio = wall / (ceil(N/200) x latency))"
	[ -n "$FUNCTION_ENV" ] && echo "function environment: $FUNCTION_ENV"
	echo
	header
	for n in $SIZES; do
		for latency in $LATENCIES; do
			start_emulator "$n" "$latency"
			# shellcheck disable=SC2046
			measure ours "$n" "$latency" $(function_cmd "$n" "$latency") run --account "$ACCOUNT" --event "$EVENT"
			if [ "$NAIVE" = 1 ]; then
				measure naive "$n" "$latency" "$NAIVE_BIN" run --account "$ACCOUNT" --event "$EVENT"
			fi
			stop_emulator
		done
	done
}

sweep() {
	echo
	echo "## AUDIT_CONCURRENCY sweep: $SWEEP_N sessions, 20 ms per call"
	echo
	header
	start_emulator "$SWEEP_N" 20ms
	for s in $SWEEP_STREAMS; do
		FUNCTION_ENV="$FUNCTION_ENV AUDIT_CONCURRENCY=$s" measure "streams=$s" "$SWEEP_N" 20ms "$BIN" run --account "$ACCOUNT" --event "$EVENT"
	done
	stop_emulator
}

throttle() {
	if [ -n "$THROTTLE_RATES" ]; then
		echo
		echo "## Throttling: ${SWEEP_N} sessions, 20 ms per call, a share of calls answered ThrottlingException"
		echo
		header
		for rate in 0 $THROTTLE_RATES; do
			start_emulator "$SWEEP_N" 20ms "$rate"
			measure "ours throttle=$rate" "$SWEEP_N" 20ms "$BIN" run --account "$ACCOUNT" --event "$EVENT"
			stop_emulator
		done
	fi
	echo
	echo "## Under the account's rate limit: ${LIMIT_N} sessions, 20 ms per call, token bucket of burst ${LIMIT_BURST}"
	echo "bound = (answered calls - burst) / rate; ratio = wall / bound; throttled share = throttled / answered;"
	echo "calls s = the emulator's first call's arrival to its last answer (the listing without process start, upload, manifest)"
	echo
	echo "| rate /s | answered | throttled | throttled share | bound s | wall s | ratio | calls s | calls / bound | rows |"
	echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	for limit in $RATE_LIMITS; do
		start_emulator "$LIMIT_N" 20ms 0 --rate-limit "$limit" --burst "$LIMIT_BURST"
		local envs=() line status=0
		while IFS= read -r line; do [ -n "$line" ] && envs+=("$line"); done <<<"$EMU_ENV"
		env -u AWS_CA_BUNDLE -u AWS_PROFILE "${envs[@]}" $FUNCTION_ENV /usr/bin/time -v -o "$BENCH_DIR/time.txt" \
			"${FUNCTION_BIN:-$BIN}" run --account "$ACCOUNT" --event "$EVENT" >"$BENCH_DIR/out.json" 2>"$BENCH_DIR/err-limit-$limit.txt" || status=$?
		# The emulator prints its count of calls when interrupted.
		kill -INT "$EMU_PID" 2>/dev/null || true
		wait "$EMU_PID" 2>/dev/null || true
		EMU_PID=
		if [ "$status" != 0 ]; then
			echo "| $limit | FAILED (exit $status): $(tail -1 "$BENCH_DIR/err-limit-$limit.txt" | tr '|' '/') |"
			continue
		fi
		local wall answered throttled rows span
		wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,p,":"); s=0; for(i=1;i<=n;i++) s=s*60+p[i]; print s}' "$BENCH_DIR/time.txt")
		answered=$(sed -n 's/.*: \([0-9]*\) DescribeSessions calls answered, \([0-9]*\) throttled.*/\1/p' "$BENCH_DIR/emu.log")
		throttled=$(sed -n 's/.*: \([0-9]*\) DescribeSessions calls answered, \([0-9]*\) throttled.*/\2/p' "$BENCH_DIR/emu.log")
		span=$(sed -n 's/.* throttled, \([0-9.]*\) s from the first.*/\1/p' "$BENCH_DIR/emu.log")
		rows=$(grep -o '"rows": *[0-9]*' "$BENCH_DIR/out.json" | tail -1 | grep -o '[0-9]*$' || echo "?")
		awk -v r="$limit" -v a="$answered" -v t="$throttled" -v w="$wall" -v b="$LIMIT_BURST" -v rows="$rows" -v span="$span" 'BEGIN {
			bound = (a - b) / r
			printf "| %s | %d | %d | %.1f %% | %.2f | %.2f | %.3f | %.2f | %.3f | %s |\n", r, a, t, 100 * t / a, bound, w, w / bound, span, span / bound, rows
		}'
	done
	echo
	echo "The limiter's rate over time (rate $(echo "$RATE_LIMITS" | awk '{print $NF}') /s run; elapsed since its first call):"
	echo
	echo "| elapsed s | rate /s | learned /s | reason |"
	echo "|---:|---:|---:|---|"
	local last
	last=$(echo "$RATE_LIMITS" | awk '{print $NF}')
	sed -n 's/.*rate limit elapsed_ms=\([0-9]*\) rate=\([^ ]*\) learned=\([^ ]*\) reason="\{0,1\}\([^"]*\)"\{0,1\} source=.*/\1 \2 \3 \4/p' "$BENCH_DIR/err-limit-$last.txt" |
		awk '{ r = $4; for (i = 5; i <= NF; i++) r = r " " $i; printf "| %.3f | %s | %s | %s |\n", $1 / 1000, $2, $3, r }'
}

coldstart() {
	echo
	echo "## Bootstrap size and cold start"
	echo
	(cd "$ROOT" && mkdir -p "$BENCH_DIR/lambda" \
		&& CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $GO build -tags lambda.norpc -trimpath -ldflags "-s -w" \
			-o "$BENCH_DIR/lambda/bootstrap" ./functions/session-audit)
	rm -f "$BENCH_DIR/lambda/bootstrap.zip"
	(cd "$BENCH_DIR/lambda" && zip -q -9 bootstrap.zip bootstrap)
	local raw zipped
	raw=$(stat -c %s "$BENCH_DIR/lambda/bootstrap")
	zipped=$(stat -c %s "$BENCH_DIR/lambda/bootstrap.zip")
	awk -v r="$raw" -v z="$zipped" 'BEGIN { printf "linux/arm64 bootstrap (make build flags): %d bytes (%.2f MiB), zip -9: %d bytes (%.2f MiB)\n", r, r/1048576, z, z/1048576 }'
	echo
	echo "init (process start to the first Runtime API request), host architecture:"
	(cd "$ROOT" && $GO test -run '^$' -bench ColdStart -benchtime 20x ./functions/session-audit/ | grep -E '^Benchmark')
}

build
case $MODE in
all)
	table
	sweep
	coldstart
	;;
table) table ;;
sweep) sweep ;;
throttle) throttle ;;
coldstart) coldstart ;;
*)
	echo "usage: $0 [all|table|sweep|throttle|coldstart]" >&2
	exit 2
	;;
esac
