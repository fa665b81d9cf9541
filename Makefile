# Latchkey — build, run and test. `make` alone lists the targets.
#
# The project builds with Go 1.27.3. When GOTOOLCHAIN is not set by the caller, the go
# command is told to fetch that toolchain through the module proxy (about 10 s, once).
export GOTOOLCHAIN ?= go1.27.3

GO           ?= go
STATICCHECK  := honnef.co/go/tools/cmd/staticcheck@v0.8.2
GOVULNCHECK  := golang.org/x/vuln/cmd/govulncheck@v1.9.0
VULNDB_VER   := v0.0.0-20261105234957-e22db6528018
VULNDB_DIR   := .cache/vulndb
CHROMIUM     ?= $(shell command -v chromium 2>/dev/null || command -v chromium-browser 2>/dev/null)

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: run
run: ## run the portal on the embedded defaults (Seam sandbox, dev IdP, SQLite); needs only Go
	$(GO) run .

.PHONY: build
build: ## build ./bin/latchkey: static (no cgo), stripped, reproducible paths
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o bin/latchkey .

.PHONY: test
test: node_modules chromium ## run every test (unit, contract, browser) under the race detector; installs npm packages first
	$(GO) test -race -count=1 ./...

.PHONY: check
check: node_modules ## unit and contract tests, no browser (quick; what to run while working)
	$(GO) test -count=1 $$($(GO) list ./... | grep -v /e2e)

.PHONY: e2e
e2e: node_modules chromium ## run the browser tests alone
	$(GO) test -count=1 -v ./e2e/...

.PHONY: bench
bench: node_modules ## run the benchmarks
	$(GO) test -run '^$$' -bench . -benchmem ./...

LOADTEST_CONNS    ?= 32
LOADTEST_DURATION ?= 10s

.PHONY: loadtest
loadtest: ## load GET /devices (3 locks) for ~10 s: portal and Go load generator each pinned to a core (taskset); prints req/s, p50, p99 at 32 and at 4 connections, then again with Seam slowed to 300 ms
	$(GO) build -o bin/loadtest ./cmd/loadtest
	bin/loadtest -c $(LOADTEST_CONNS) -d $(LOADTEST_DURATION)

.PHONY: generate
generate: node_modules ## rebuild templ output, static/css/app.css, static/js/htmx.min.js and its SSE extension
	$(GO) tool templ generate
	npx --no-install tailwindcss -i static/css/input.css -o static/css/app.css --minify
	cp node_modules/htmx.org/dist/htmx.min.js static/js/htmx.min.js
	cp node_modules/htmx-ext-sse/dist/sse.min.js static/js/htmx-ext-sse.min.js

.PHONY: lint
lint: ## gofmt check, go vet, staticcheck
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed on:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

.PHONY: audit
audit: $(VULNDB_DIR)/index/db.json ## go mod verify and govulncheck against an offline vulnerability database
	$(GO) mod verify
	$(GO) run $(GOVULNCHECK) -db file://$(CURDIR)/$(VULNDB_DIR) ./...

$(VULNDB_DIR)/index/db.json:
	$(GO) mod download golang.org/x/vulndb@$(VULNDB_VER)
	rm -rf $(VULNDB_DIR) && mkdir -p $(dir $(VULNDB_DIR))
	$(GO) run golang.org/x/vulndb/cmd/indexdb@$(VULNDB_VER) \
		-vulns $$($(GO) env GOMODCACHE)/golang.org/x/vulndb@$(VULNDB_VER)/data/osv -out $(VULNDB_DIR)

node_modules: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch node_modules

.PHONY: chromium
chromium:
	@if [ -z "$(CHROMIUM)" ]; then \
		if [ "$$(id -u)" = "0" ]; then \
			echo "chromium is missing: installing Debian's chromium for the browser tests"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else \
			echo "The browser tests need Debian's chromium. Install it with:"; \
			echo "  sudo apt-get update && sudo apt-get install -y chromium"; \
			exit 1; \
		fi; \
	fi

.PHONY: clean
clean: ## remove build output, test artifacts and caches
	rm -rf bin artifacts .cache
