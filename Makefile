# The verbs people type. `make help` lists them.

CARGO ?= cargo
BIN   := target/release/sedaro-nano

.DEFAULT_GOAL := help
.PHONY: help build run deps test lint fmt bench clean

help: ## list the verbs
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

build: ## build the release binary (target/release/sedaro-nano)
	$(CARGO) build --release --locked

run: build ## build, then serve on http://127.0.0.1:8080 (log in ./data, in-process cache)
	$(BIN) serve

deps: ## install what the tests need and this machine lacks (redis-server, chromium, node packages)
	bash .ci/deps

test: deps lint ## lint, then run every test of the workspace (real Redis, Chromium, processes)
	$(CARGO) test --workspace --release --locked

lint: ## clippy with warnings as errors, and rustfmt's check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	$(CARGO) fmt --all -- --check

fmt: ## format the code
	$(CARGO) fmt --all

bench: ## run the criterion benchmarks (reports in target/criterion)
	$(CARGO) bench --locked

clean: ## remove build output
	$(CARGO) clean
