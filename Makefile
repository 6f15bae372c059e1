# ebpfnet: `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
BIN := bin/ebpfnet

.PHONY: help
help: ## this list
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

.PHONY: build
build: ## build bin/ebpfnet and bin/ebpfnet-cni (no clang needed: the BPF object is committed)
	$(GO) build -o $(BIN) ./cmd/ebpfnet
	$(GO) build -o bin/ebpfnet-cni ./cmd/ebpfnet-cni

.PHONY: cnitool
cnitool: ## build bin/cnitool (the CNI project's, from go.mod's module) to run ebpfnet-cni by hand
	$(GO) build -o bin/cnitool github.com/containernetworking/cni/cnitool

PREFIX ?= /usr/local
CNI_BIN_DIR ?= /opt/cni/bin

.PHONY: install
install: build ## install ebpfnet in $(PREFIX)/bin and ebpfnet-cni in $(CNI_BIN_DIR)
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/ebpfnet
	install -D -m 0755 bin/ebpfnet-cni $(DESTDIR)$(CNI_BIN_DIR)/ebpfnet-cni

.PHONY: generate
generate: ## regenerate the bpf2go output from bpf/ (needs clang-19)
	$(GO) generate ./loader

.PHONY: check-generate
check-generate: ## fail if the committed bpf2go output differs from bpf/ (skipped without clang-19)
	@tests/check-generate.sh

.PHONY: deps
deps: ## install the Debian packages tests and benchmarks need, if missing
	@tests/deps.sh

.PHONY: test
test: deps check-generate lint fuzz ## every test: unit, BPF_PROG_RUN, end-to-end in netns worlds (root)
	$(GO) test -count=1 -timeout 30m ./...

# A count of executions, not a duration: with a duration Go's fuzzing
# coordinator can fail a run with a bare "context deadline exceeded" and
# no input when the deadline fires while a worker is mid-call
# (golang/go#75804; FuzzQuery met it once in CI on this 2-core VM). At
# 11k to 70k execs/s here, 150000 is 2 to 14 s a target.
FUZZTIME ?= 150000x
# Go minimizes every new interesting input for up to -fuzzminimizetime
# (default 60s) with a pass quadratic in its length: a 2 KB API body took
# both workers for the rest of a 10s run, and the exec count stood still.
FUZZMINIMIZETIME ?= 1s
FUZZFLAGS = -run '^$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME)
.PHONY: fuzz
fuzz: ## run each fuzz target for FUZZTIME executions (port specs, CIDRs, API bodies, driver calls, DNS queries)
	$(GO) test $(FUZZFLAGS) -fuzz '^FuzzParse$$' ./datapath/portspec
	$(GO) test $(FUZZFLAGS) -fuzz '^FuzzParsePrefix$$' ./datapath/control
	$(GO) test $(FUZZFLAGS) -fuzz '^FuzzCalls$$' ./datapath/dockerdrv
	$(GO) test $(FUZZFLAGS) -fuzz '^FuzzDecode$$' ./datapath/api
	$(GO) test $(FUZZFLAGS) -fuzz '^FuzzQuery$$' ./datapath/resolver

.PHONY: demo
demo: deps build ## the whole story in a netns world, then tear it down (root)
	@tests/demo.sh $(BIN)

.PHONY: twin
twin: deps ## compare ebpfnet with its netfilter twin (issue 19) and rewrite the table in docs/datapath.md (root)
	$(GO) test -count=1 ./tests/e2e -run '^TestNetfilterTwin$$' -twin-doc

.PHONY: bench
bench: deps build ## benchmark ebpfnet against the iptables datapath and raw veth, its resolvers against aardvark-dns, its macvlan endpoints against raw veth
	$(GO) run ./tests/bench -out results
	$(GO) run ./tests/bench dns -out results
	$(GO) run ./tests/bench macvlan -rounds 3 -out results

.PHONY: fmt
fmt: ## format Go code
	gofmt -w $$(git ls-files '*.go')

# golangci-lint, pinned; built from the module proxy into bin/ once.
GOLANGCI_LINT_VERSION := v2.15.0
GOLANGCI_LINT := bin/golangci-lint-$(GOLANGCI_LINT_VERSION)

$(GOLANGCI_LINT):
	GOBIN=$(CURDIR)/bin/.lint $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv bin/.lint/golangci-lint $@ && rmdir bin/.lint

.PHONY: lint
lint: $(GOLANGCI_LINT) ## gofmt, go vet, golangci-lint (.ci/golangci.yml: depguard holds the package graph)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GOLANGCI_LINT) run --config .ci/golangci.yml ./...
	@tests/check-depguard.sh $(GOLANGCI_LINT)
