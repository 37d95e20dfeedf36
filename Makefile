# session-audit: see README.md. `make run` tries it on the built-in
# emulators; `make test` is what CI runs.

GO       ?= go
GOFLAGS  ?=
FUZZTIME ?= 10s
BIN      := .aws-sam/bootstrap
LDFLAGS  := -s -w
LAMBDA_ENV := CGO_ENABLED=0 GOOS=linux GOARCH=arm64

.PHONY: build build-SessionAuditFunction test unit fuzz lint bench bench-function run clean tidy-check

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

## test: formatting, vet, every test, and a short fixed-time fuzz of each target
test: lint unit fuzz

unit:
	$(GO) test -count=1 -timeout 15m ./...

fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./internal/handler
	$(GO) test -run '^$$' -fuzz '^FuzzSlots$$' -fuzztime $(FUZZTIME) ./internal/window
	$(GO) test -run '^$$' -fuzz '^FuzzDescribeSessionsRequest$$' -fuzztime $(FUZZTIME) ./internal/ssmfake

## lint: gofmt, go vet, and go mod tidy leaving no diff
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@$(MAKE) --no-print-directory tidy-check

tidy-check:
	@cp go.mod /tmp/session-audit.go.mod.bak && cp go.sum /tmp/session-audit.go.sum.bak
	@$(GO) mod tidy
	@if ! cmp -s go.mod /tmp/session-audit.go.mod.bak || ! cmp -s go.sum /tmp/session-audit.go.sum.bak; then \
		echo "go mod tidy changed go.mod/go.sum; run it and commit"; \
		cp /tmp/session-audit.go.mod.bak go.mod; cp /tmp/session-audit.go.sum.bak go.sum; exit 1; fi

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

## run: the main job on the built-in emulators, then a report of what it wrote
run:
	$(GO) run ./cmd/session-audit demo --out out

clean:
	rm -rf .aws-sam out
