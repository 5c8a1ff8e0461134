# Muster — build, test and run. `make help` lists the targets.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO      ?= go
GOFMT   ?= gofmt
BIN_DIR := bin
RUN_DIR := .run

# Always use the repo's workspace, whatever GOWORK says in the caller's env.
export GOWORK := $(CURDIR)/go.work

# staticcheck, pinned (0.8.2 = staticcheck 2026.2.2, supports Go 1.26).
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

# Every module in go.work, as ./relative/dirs (go list -m lists them all in
# workspace mode). CODE_MODULES drops modules that have no .go files yet, so a
# bare go.mod does not break vet/test ("matched no packages"); PKGS are their
# ./dir/... patterns, run from the repo root in one go invocation.
MODULES      := $(patsubst $(CURDIR)/%,./%,$(shell GOWORK=$(GOWORK) $(GO) list -m -f '{{.Dir}}' 2>/dev/null))
CODE_MODULES := $(strip $(foreach m,$(MODULES),$(if $(shell find $(m) -name '*.go' -not -path '*/testdata/*' -print -quit 2>/dev/null),$(m))))
PKGS         := $(addsuffix /...,$(CODE_MODULES))

# Binaries: services/<name>/cmd/<name>. Ones whose main package does not exist
# (yet) are skipped.
SERVICES := contacts campaigns delivery simulator devstack console muster
BINARIES := $(strip $(foreach s,$(SERVICES),$(if $(wildcard services/$(s)/cmd/$(s)/*.go),$(s))))

# The release every binary reports for `version` and in muster_build_info:
# the nearest tag and the commits since, "-dirty" with uncommitted changes.
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -X github.com/musterhq/muster/shared/buildinfo.stamped=$(VERSION) \
	-X github.com/musterhq/muster/shared/buildinfo.stampedRevision=$(REVISION)

# Services with a `migrate` subcommand.
MIGRATE_SERVICES := contacts campaigns delivery console

GO_TEST_FLAGS := -count=1 -timeout 45m -p 2
TESTFLAGS     ?=

.PHONY: help build run test test-race test-faults test-clock lint bench migrate \
	docker-config clean ensure-services check-modules

help: ## List the targets
	@echo "Usage: make <target>"
	@awk 'BEGIN { FS = ":.*## " } /^[a-zA-Z_-]+:.*## / { printf "  %-16s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

build: ## Build every existing service binary into ./bin (CGO_ENABLED=0)
	@mkdir -p $(BIN_DIR)
ifeq ($(BINARIES),)
	@echo "build: no services/<name>/cmd/<name> packages yet"
else
	CGO_ENABLED=0 $(GO) build -ldflags '$(LDFLAGS)' -o $(BIN_DIR)/ $(foreach s,$(BINARIES),./services/$(s)/cmd/$(s))
endif

run: ensure-services build ## Run the whole stack in one process: ./bin/devstack (Ctrl-C stops it; ARGS=... passed on)
	@[ -x $(BIN_DIR)/devstack ] || { echo "run: $(BIN_DIR)/devstack was not built (services/devstack/cmd/devstack missing?)"; exit 1; }
	exec ./$(BIN_DIR)/devstack $(ARGS)

test: ensure-services check-modules ## Run the tests of every module in go.work (TESTFLAGS=... adds flags)
	$(GO) test $(GO_TEST_FLAGS) $(TESTFLAGS) $(PKGS)

# The tests whose outcome could depend on when they run (quiet hours,
# schedules, leases, reminders, imports' heartbeats, sessions), run again by
# test-clock with every test clock moved (testkit.ClockShiftEnv) and the
# machine in another time zone: 12 hours on from the plain run, and across
# New York's next daylight-saving change.
CLOCK_PKGS := ./shared/testkit/... ./services/delivery/app/... ./services/delivery/store/... \
	./services/delivery/quiet/... ./services/delivery/freqcap/... ./services/delivery/review/... \
	./services/delivery/rhythm/... ./services/delivery/prefs/... ./services/delivery/smssend/... ./services/delivery/retention/... \
	./services/campaigns/... \
	./services/contacts/... ./services/console/... ./services/devstack/stack/...

test-clock: ensure-services ## Run the time-sensitive tests 12h on (TZ=Asia/Kathmandu) and across a DST change (TZ=Pacific/Kiritimati)
	MUSTER_TEST_CLOCK_SHIFT=12h TZ=Asia/Kathmandu $(GO) test $(GO_TEST_FLAGS) $(TESTFLAGS) $(CLOCK_PKGS)
	MUSTER_TEST_CLOCK_SHIFT=next-dst:America/New_York TZ=Pacific/Kiritimati $(GO) test $(GO_TEST_FLAGS) $(TESTFLAGS) $(CLOCK_PKGS)

test-race: ensure-services check-modules ## Same as test, with the race detector
	CGO_ENABLED=1 $(GO) test -race $(GO_TEST_FLAGS) $(TESTFLAGS) $(PKGS)

test-faults: ensure-services ## Run the fault-injection suite (services/devstack/cluster; table rows in .run/faults.md)
	@mkdir -p $(RUN_DIR)
	@: >$(RUN_DIR)/faults.md
	cd services/devstack && MUSTER_FAULT_REPORT=$(CURDIR)/$(RUN_DIR)/faults.md \
		$(GO) test -count=1 -timeout 60m -v -run 'Fault' $(TESTFLAGS) ./cluster/
	@echo "table rows for docs/reliability.md: $(RUN_DIR)/faults.md"

lint: check-modules ## gofmt -l (must print nothing), go vet and staticcheck over every module
	@echo "$(GOFMT) -l $(CODE_MODULES)"
	@out=$$($(GOFMT) -l $(CODE_MODULES)); \
	if [ -n "$$out" ]; then echo "gofmt: these files need 'gofmt -w':"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(STATICCHECK) $(PKGS)

bench: ## Run the registered benchmarks, print BENCH lines (BENCH=<metric> for one; log in .run/bench.log)
	@BENCH='$(BENCH)' bash deployments/local/bench.sh

migrate: ensure-services build ## Create/migrate every database: ./bin/<svc> migrate for contacts, campaigns, delivery, console
	@for s in $(MIGRATE_SERVICES); do \
		[ -x $(BIN_DIR)/$$s ] || { echo "migrate: $(BIN_DIR)/$$s was not built (services/$$s/cmd/$$s missing?)"; exit 1; }; \
		echo "./$(BIN_DIR)/$$s migrate"; ./$(BIN_DIR)/$$s migrate; \
	done

# docker-config checks the compose file twice, in a clean environment (no
# .env, no shell variables): with nothing set it must refuse to start (every
# secret is ${VAR:?...}); with every required variable set to a stand-in it
# must be valid, in the default profile and in "dev".
docker-config: ## Validate docker-compose.yml (docker compose config -q; needs no engine)
	@if docker compose version >/dev/null 2>&1; then dc="docker compose"; \
	elif command -v docker-compose >/dev/null 2>&1; then dc=docker-compose; \
	else echo "docker-config: neither 'docker compose' nor 'docker-compose' is installed"; exit 1; fi; \
	empty=$$(mktemp); trap 'rm -f "$$empty"' EXIT; \
	clean="env -i PATH=$$PATH HOME=$$HOME"; \
	if out=$$($$clean $$dc --env-file "$$empty" config -q 2>&1); then \
		echo "docker-config: docker-compose.yml is valid with no secrets set; each must be \$${VAR:?what to set}"; exit 1; \
	elif ! grep -qiE 'mandatory|required' <<<"$$out"; then echo "$$out"; exit 1; fi; \
	required=$$(grep -oE '\$$\{[A-Za-z0-9_]+:\?' docker-compose.yml | sed -E 's/^\$$\{//; s/:\?$$//' | sort -u); \
	standins=$$(for v in $$required; do printf '%s=config-check ' "$$v"; done); \
	$$clean $$standins $$dc --env-file "$$empty" config -q; \
	$$clean $$standins $$dc --env-file "$$empty" --profile dev config -q
	@echo "docker-compose.yml is valid, and refuses to start without its secrets"

clean: ## Remove ./bin and ./.run
	rm -rf $(BIN_DIR) $(RUN_DIR)

ensure-services: ## Make sure PostgreSQL (:5432) and Redis (:6379) are up locally
	@bash deployments/local/ensure-services.sh

check-modules:
	@if [ -z "$(MODULES)" ]; then echo "cannot list the modules of go.work (go list -m failed)"; exit 1; fi
	@if [ -z "$(CODE_MODULES)" ]; then echo "no module in go.work has Go code"; exit 1; fi
	@echo "modules with Go code: $(CODE_MODULES)"

# deploy-check: the deployment files, offline. Tools pinned like staticcheck
# (the first run builds them: caddy takes a few minutes cold, then seconds).
# Kubernetes manifests are checked by deployments/check, its own module
# (GOWORK=off), since kubeconform's schemas cannot be downloaded here.
KUSTOMIZE_VERSION := v5.7.1
KUSTOMIZE := $(GO) run sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)
CADDY_VERSION := v2.10.2
CADDY := $(GO) run github.com/caddyserver/caddy/v2/cmd/caddy@$(CADDY_VERSION)
DEPLOY_CHECK := GOWORK=off $(GO) -C deployments/check

.PHONY: deploy-check

# Every tool but the compose CLI comes through the Go module proxy; without
# `docker compose` or `docker-compose` (Debian: apt-get install
# docker-compose) the compose step is skipped, saying so, and the rest runs.
deploy-check: ## Validate compose, gateway, NATS configs and Kubernetes manifests offline
	@if docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1; then \
		$(MAKE) --no-print-directory docker-config; \
	else echo "deploy-check: SKIPPED docker-compose.yml: neither 'docker compose' nor 'docker-compose' is installed (apt-get install docker-compose)"; fi
	@echo "caddy $(CADDY_VERSION): deployments/gateway/Caddyfile (HTTPS on a host name, and plain :80)"
	@for site in muster.example.org :80; do \
		out=$$(MUSTER_SITE_ADDRESS=$$site $(CADDY) adapt --config deployments/gateway/Caddyfile --validate 2>&1 >/dev/null) || { echo "$$out"; exit 1; }; \
	done
	@$(CADDY) fmt --diff deployments/gateway/Caddyfile >/dev/null 2>&1 || { echo "Caddyfile is not formatted: caddy fmt --overwrite"; exit 1; }
	@echo "promtool: deployments/observability/prometheus (the configuration, the alert rules and their unit tests)"
	@bash deployments/local/promtool.sh check config --syntax-only deployments/observability/prometheus/prometheus.yml >/dev/null
	@bash deployments/local/promtool.sh check rules deployments/observability/prometheus/alerts.yml >/dev/null
	@cd deployments/observability/prometheus && bash ../../local/promtool.sh test rules alerts_test.yml >/dev/null
	$(GO) test -count=1 ./services/devstack/deployment/
	$(DEPLOY_CHECK) vet ./...
	$(DEPLOY_CHECK) test -count=1 ./...
	$(DEPLOY_CHECK) run . -nats-conf ../nats/cluster.conf $(patsubst deployments/%,../%,$(wildcard deployments/k8s/*.yaml))
	$(KUSTOMIZE) build deployments/k8s | $(DEPLOY_CHECK) run . -
	$(KUSTOMIZE) build deployments/k8s-dev | $(DEPLOY_CHECK) run . -
	@echo "deployment files are valid"
