# session-audit: see README.md. `make run` tries it on the built-in
# emulators; `make test` is what CI runs.

GO       ?= go
GOFLAGS  ?=
FUZZTIME ?=
# Executions per fuzz target (about 5-10 s each on this 2-core machine).
FUZZ_DECODE  ?= 30000x
FUZZ_SLOTS   ?= 500000x
FUZZ_SSM     ?= 30000x
FUZZ_OWNER   ?= 200000x
FUZZ_EXCEPTIONS ?= 20000x
FUZZMINIMIZE ?= 5s
BIN      := .aws-sam/bootstrap
LDFLAGS  := -s -w
LAMBDA_ENV := CGO_ENABLED=0 GOOS=linux GOARCH=arm64

.PHONY: queries report report-screenshot build-SessionAuditReportFunction build-OrgFunction run-org node-tools build build-SessionAuditFunction cli test unit fuzz lint bench bench-function run clean tidy-check

## build: the Lambda bootstrap for linux/arm64 (provided.al2023)
build:
	mkdir -p $(dir $(BIN))
	$(LAMBDA_ENV) $(GO) build -tags lambda.norpc -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./functions/session-audit

## build-SessionAuditFunction: what `sam build` calls (Metadata: BuildMethod: makefile)
## with ARTIFACTS_DIR set. No VCS stamp: sam builds from a copy of the
## sources, in a container with --use-container, where git may be missing or
## refuse the folder.
build-SessionAuditFunction:
	@test -n "$(ARTIFACTS_DIR)" || { echo "ARTIFACTS_DIR is not set: sam build sets it (or: make $@ ARTIFACTS_DIR=dir)"; exit 1; }
	$(LAMBDA_ENV) $(GO) build -tags lambda.norpc -trimpath -buildvcs=false -ldflags "$(LDFLAGS)" -o $(ARTIFACTS_DIR)/bootstrap ./functions/session-audit

## cli: the local command line as bin/session-audit, so that its exit codes
## (0 done, 1 the work failed, 2 a usage or configuration error) reach the
## shell; `go run` reports every failure as 1.
cli:
	$(GO) build -o bin/session-audit ./cmd/session-audit

## build-OrgFunction: what `sam build` calls for the org function (org mode)
build-OrgFunction:
	@test -n "$(ARTIFACTS_DIR)" || { echo "ARTIFACTS_DIR is not set: sam build sets it (or: make $@ ARTIFACTS_DIR=dir)"; exit 1; }
	$(LAMBDA_ENV) $(GO) build -tags lambda.norpc -trimpath -buildvcs=false -ldflags "$(LDFLAGS)" -o $(ARTIFACTS_DIR)/bootstrap ./functions/session-audit-org

## test: formatting, vet, every test, and a short fixed-time fuzz of each target
test: lint unit fuzz

unit: node-tools
	$(GO) test -count=1 -timeout 15m ./...

## node-tools: the npm packages the state machine tests run (asl-validator,
## aws-local-stepfunctions), pinned in internal/stack/testdata/statemachine
node-tools:
	@if command -v npm >/dev/null 2>&1 && [ ! -d internal/stack/testdata/statemachine/node_modules ]; then \
		npm ci --prefix internal/stack/testdata/statemachine --no-audit --no-fund; fi

## fuzz: a short fuzz of each target, bounded by executions, not seconds:
## a -fuzztime in seconds races Go's fuzzing coordinator against its own
## deadline and can fail with a bare "context deadline exceeded" on a busy
## machine (golang/go#75804). FUZZTIME=10s still works for a timed run.
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(or $(FUZZTIME),$(FUZZ_DECODE)) -fuzzminimizetime $(FUZZMINIMIZE) ./internal/handler
	$(GO) test -run '^$$' -fuzz '^FuzzSlots$$' -fuzztime $(or $(FUZZTIME),$(FUZZ_SLOTS)) -fuzzminimizetime $(FUZZMINIMIZE) ./internal/window
	$(GO) test -run '^$$' -fuzz '^FuzzDescribeSessionsRequest$$' -fuzztime $(or $(FUZZTIME),$(FUZZ_SSM)) -fuzzminimizetime $(FUZZMINIMIZE) ./internal/ssmfake
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(or $(FUZZTIME),$(FUZZ_OWNER)) -fuzzminimizetime $(FUZZMINIMIZE) ./internal/owner
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(or $(FUZZTIME),$(FUZZ_EXCEPTIONS)) -fuzzminimizetime $(FUZZMINIMIZE) ./internal/exceptions

## lint: gofmt, go vet, and go mod tidy leaving no diff
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@$(MAKE) --no-print-directory tidy-check

## tidy-check: go mod tidy must leave go.mod and go.sum as they are; the
## backup goes to a fresh temporary folder, so checkouts side by side do not
## overwrite each other's.
tidy-check:
	@bak=$$(mktemp -d) && trap 'rm -rf "$$bak"' EXIT && \
	cp go.mod go.sum "$$bak"/ && \
	$(GO) mod tidy && \
	if ! cmp -s go.mod "$$bak"/go.mod || ! cmp -s go.sum "$$bak"/go.sum; then \
		echo "go mod tidy changed go.mod/go.sum; run it and commit"; \
		cp "$$bak"/go.mod "$$bak"/go.sum .; exit 1; fi

## bench: the Go benchmarks (see BENCHMARKS.md for the whole-function runs)
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./internal/...

## bench-function: the built function as its own process against the emulator
## binary, under /usr/bin/time: wall, CPU, peak RSS for 10k/100k/1M sessions
## at 0 and 20 ms, the naive baseline, the AUDIT_CONCURRENCY sweep, bootstrap
## size and cold start (about 6 minutes; BENCH_MODE=table|sweep|throttle|coldstart)
bench-function:
	bash bench/function.sh $(BENCH_MODE)

## minio: the MinIO server the MinIO tests run (internal/miniotest), built once
## per machine into $HOME/.cache/session-audit/minio/<version>/ (about 5 minutes)
.PHONY: minio
minio:
	bash .ci/minio.sh

## kms: local-kms, the KMS emulator the signing tests run (internal/kmstest),
## built once per machine into $HOME/.cache/session-audit/local-kms/<version>/
.PHONY: kms
kms:
	bash .ci/kms.sh

## run: the main job on the built-in emulators, then a summary of what it
## wrote; each run replaces the previous run's export in out/ (--clean).
## Built without cgo, so without DuckDB (the Athena emulator, which only
## `make report` and `make test` need): a cold build downloads and compiles
## far less (BENCHMARKS.md, "Cold make run").
run:
	CGO_ENABLED=0 $(GO) run ./cmd/session-audit demo --out out --clean

## run-org: one organization run on emulated accounts and regions (one
## account without the reader role, one region not enabled); prints coverage.
## Its archive is under out/org, apart from `make run`'s (out): the two are
## different histories of the same account. `make report REPORT_OUT=out/org`
## reports it, with its coverage.
run-org:
	CGO_ENABLED=0 $(GO) run ./cmd/session-audit org --local --out out/org

clean:
	rm -rf .aws-sam out bin

## build-SessionAuditReportFunction: what `sam build` calls for the report function
build-SessionAuditReportFunction:
	@test -n "$(ARTIFACTS_DIR)" || { echo "ARTIFACTS_DIR is not set: sam build sets it (or: make $@ ARTIFACTS_DIR=dir)"; exit 1; }
	$(LAMBDA_ENV) $(GO) build -tags lambda.norpc -trimpath -buildvcs=false -ldflags "$(LDFLAGS)" -o $(ARTIFACTS_DIR)/bootstrap ./functions/session-audit-report

## queries: write template.yaml's named queries from internal/findings
## (the report's own SQL, with the stack's Report* parameters); a test fails
## while template.yaml differs from what this writes
queries:
	$(GO) run ./internal/findings/gen -template template.yaml

## report: the weekly audit report of the local export in REPORT_OUT (`make
## run` makes one in out, `make run-org` in out/org, or this runs the demo
## export first) through the Athena emulator; prints the path of report.html
## (REPORT_FLAGS: --kind monthly, --from/--to)
REPORT_OUT ?= out
report:
	$(GO) run ./cmd/session-audit report --out $(REPORT_OUT) $(REPORT_FLAGS)

## report-screenshot: `make report` with the example exceptions file
## (docs/exceptions.example.yaml, uploaded to the local bucket), then
## headless Chromium renders report.html to docs/report.png (needs the
## Debian package chromium)
REPORT_PNG ?= docs/report.png
report-screenshot: REPORT_FLAGS ?= --exceptions docs/exceptions.example.yaml
report-screenshot:
	@command -v chromium >/dev/null || { echo "chromium is not installed (apt-get install chromium)"; exit 1; }
	@page=$$($(GO) run ./cmd/session-audit report --out $(REPORT_OUT) $(REPORT_FLAGS)) && profile=$$(mktemp -d) && \
	chromium --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
		--disable-sync --no-first-run --user-data-dir="$$profile" --hide-scrollbars --window-size=1100,2300 \
		--screenshot="$(abspath $(REPORT_PNG))" "file://$$page" 2>/dev/null; rc=$$?; rm -rf "$$profile"; \
	test $$rc -eq 0 && echo "$(REPORT_PNG) from $$page"
