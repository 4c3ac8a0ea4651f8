# The verbs people type. `make help` lists them.

CARGO ?= cargo
BIN   := target/release/sedaro-nano
IMAGE ?= sedaro-nano:dev
WORKERS ?= 3
MINIKUBE_CPUS ?= 4
MINIKUBE_MEMORY ?= 8g

.DEFAULT_GOAL := help
.PHONY: help build run deps test lint fmt bench figures catalog-figures load soak clean cluster-local image image-base image-local minikube-up image-load deploy services logs down

help: ## list the verbs
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

build: ## build the release binary (target/release/sedaro-nano)
	$(CARGO) build --release --locked

run: build ## build, then serve on http://127.0.0.1:8080 (log in ./data, in-process cache)
	$(BIN) serve

deps: ## as root: install what the tests lack (C compiler, redis-server, chromium, node, kubectl...)
	bash .ci/deps

test: deps lint ## as root (apt-get, a tmpfs mount): lint, then every test (real Redis, Chromium, processes)
	$(CARGO) test --workspace --release --locked --no-fail-fast

lint: ## clippy with warnings as errors, and rustfmt's check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	$(CARGO) fmt --all -- --check

fmt: ## format the code
	$(CARGO) fmt --all

bench: ## run the criterion benchmarks (reports in target/criterion)
	$(CARGO) bench --locked

figures: build ## the whole-process figures the docs quote: times, peak RSS, bytes per record, idle
	python3 benches/process.py

catalog-figures: build ## the public catalogue (bash .ci/deps fetches it) read, and propagated by SGP4 for a day on 2 workers into a fresh log
	bash benches/catalog.sh $(BIN)

load: build ## warm and cold request mixes on loopback (DURATION=10 s each): req/s, p50/p99, RSS
	bash benches/load.sh

soak: build ## a steady load for DURATION=600 s: RSS and open files sampled every 30 s
	bash benches/soak.sh

clean: ## remove build output
	$(CARGO) clean

cluster-local: build ## the cluster as local processes: WORKERS processes, Redis if installed, supervised
	$(BIN) local-cluster --processes $(WORKERS)

image: ## build the container image $(IMAGE) (needs a Docker engine and a registry)
	docker build -f cluster/Dockerfile -t $(IMAGE) .

image-base: ## the image's Debian base from Debian's packages (mmdebstrap), once: kept as a tag
	bash cluster/image.sh base

image-local: build image-base ## $(IMAGE) from the release binary on the base, and Redis on it: no registry
	bash cluster/image.sh nano $(BIN) $(IMAGE)
	bash cluster/image.sh redis

minikube-up: ## start minikube with room for the cluster
	minikube start --cpus=$(MINIKUBE_CPUS) --memory=$(MINIKUBE_MEMORY)

image-load: ## load $(IMAGE) into minikube
	minikube image load $(IMAGE)

deploy: ## apply the manifests (namespace sedaro)
	kubectl apply -k cluster/k8s
	kubectl -n sedaro rollout status statefulset/nano --timeout=180s

services: ## the URL of the web
	@echo "http://$$(minikube ip):30080/"

logs: ## follow the logs of every pod of the cluster
	kubectl -n sedaro logs -f -l app=nano --all-containers --prefix --max-log-requests=10

down: ## delete everything deployed (the namespace, with its volumes)
	kubectl delete -k cluster/k8s --ignore-not-found
