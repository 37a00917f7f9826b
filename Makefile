# kith: `make demo` runs the main job, `make test` runs every test (installing what the
# tests need when run as root). `make help` lists the targets.

SHELL := /bin/bash
GO ?= go
BUF_VERSION := v1.75.0
BUF := $(GO) run github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
TEST_TIMEOUT ?= 14m
FUZZTIME ?= 60s
BENCHTIME ?= 1x

# command:debian-package pairs the tests need (each test also checks for itself).
TEST_DEPS := redis-server:redis-server redis-cli:redis-tools redis-benchmark:redis-tools \
	turnutils_uclient:coturn ip:iproute2 tc:iproute2 iptables:iptables conntrack:conntrack \
	systemd-analyze:systemd chromium:chromium \
	miniupnpd:miniupnpd-iptables iptables-legacy:iptables natpmpc:natpmpc upnpc:miniupnpc

.PHONY: help build test deps lint proto proto-check bench load demo fuzz mutate clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 14

build: ## build bin/kith and bin/kith-rendezvous
	$(GO) build -o bin/ ./peer/cmd/kith ./rendezvous/cmd/kith-rendezvous

test: deps proto-check build ## run every test (CI=true: a missing component fails instead of skipping)
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

deps: ## install what the tests need with apt-get (as root), or say exactly what to install
	@missing=""; for d in $(TEST_DEPS); do \
		command -v $${d%%:*} >/dev/null 2>&1 || case " $$missing " in *" $${d#*:} "*) ;; *) missing="$$missing $${d#*:}";; esac; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "make deps: installing$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null \
			|| { echo "make deps: apt-get install$$missing failed" >&2; exit 1; }; \
		if command -v systemctl >/dev/null 2>&1; then systemctl disable --now coturn redis-server miniupnpd >/dev/null 2>&1 || true; fi; \
	else \
		echo "make deps: MISSING:$$missing. Install them with: sudo apt-get install$$missing" >&2; \
		echo "make deps: tests that need them will skip (and fail under CI=true)." >&2; \
	fi

lint: ## gofmt, go vet, buf lint
	@out=$$(gofmt -l $$(git ls-files '*.go') 2>/dev/null); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(BUF) lint

proto: ## regenerate proto/**/*.pb.go with buf (offline, plugins pinned in go.mod)
	$(BUF) generate

proto-check: ## fail when the committed generated code is stale or buf lint fails
	@$(BUF) lint
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(BUF) generate -o "$$tmp" || exit 1; \
	diff <(cd proto && find . -name '*.go' | sort) <(cd "$$tmp/proto" && find . -name '*.go' | sort) \
		|| { echo "proto-check: generated files differ from the .proto files; run make proto"; exit 1; }; \
	for f in $$(cd "$$tmp/proto" && find . -name '*.go'); do \
		cmp -s "proto/$$f" "$$tmp/proto/$$f" || { echo "proto-check: proto/$$f is stale; run make proto"; exit 1; }; \
	done

bench: deps build ## run the benchmarks; each prints its figure beside a baseline measured in the same run
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) -timeout 60m ./...

LOAD_ARGS ?= --peers 100000 --listeners 10000 --rate 1000 --duration 30s --instances 1,2

load: deps build ## load run on loopback (own redis-server and kith-rendezvous processes, bounded to 15 min): RSS, CPU per 1k ops/s, offer latency
	$(GO) build -o bin/ ./rendezvous/cmd/kith-load
	bin/kith-load --rendezvous bin/kith-rendezvous --timeout 15m $(LOAD_ARGS)

fuzz: ## run every fuzz target for FUZZTIME (default 60s) each
	$(GO) test -run '^$$' -fuzz '^FuzzParseID$$' -fuzztime $(FUZZTIME) ./shared/identity
	$(GO) test -run '^$$' -fuzz '^FuzzOpen$$' -fuzztime $(FUZZTIME) ./shared/signed
	$(GO) test -run '^$$' -fuzz '^FuzzOpen$$' -fuzztime $(FUZZTIME) ./peer/post
	$(GO) test -run '^$$' -fuzz '^FuzzHashtags$$' -fuzztime $(FUZZTIME) ./peer/post
	$(GO) test -run '^$$' -fuzz '^FuzzChanges$$' -fuzztime $(FUZZTIME) ./peer/syncer
	$(GO) test -run '^$$' -fuzz '^FuzzRegistration$$' -fuzztime $(FUZZTIME) ./rendezvous/server
	$(GO) test -run '^$$' -fuzz '^FuzzParseUsername$$' -fuzztime $(FUZZTIME) ./rendezvous/turn
	for f in FuzzNormalizeTag FuzzSegments FuzzCheckPath FuzzParseIDs; do \
		$(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) ./peer/public || exit 1; done
	$(GO) test -run '^$$' -fuzz '^FuzzParsePacket$$' -fuzztime $(FUZZTIME) ./peer/nat
	$(GO) test -run '^$$' -fuzz '^FuzzClassify$$' -fuzztime $(FUZZTIME) ./peer/nat
	for f in FuzzParseQuery FuzzMentions FuzzParseSeeds; do \
		$(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) ./peer/crawl || exit 1; done
	$(GO) test -run '^$$' -fuzz '^FuzzParseFollow$$' -fuzztime $(FUZZTIME) ./peer/profile
	$(GO) test -run '^$$' -fuzz '^FuzzParseChanges$$' -fuzztime $(FUZZTIME) ./peer/syncer
	$(GO) test -run '^$$' -fuzz '^FuzzSegments$$' -fuzztime $(FUZZTIME) ./peer/ui
	$(GO) test -run '^$$' -fuzz '^FuzzGuesses$$' -fuzztime $(FUZZTIME) ./peer/backup/strength

# The packages holding rules of who may see, sign, verify or reach what. DIR=FILE,... mutates
# only those files of a large package (its tests all run): peer/nat's punch packets (HMAC,
# sessions; each mutant runs the lab tests too) and peer/ui's session, CSRF, Host and
# login-token files (the rest renders pages). One package alone:
# make mutate MUTATE_PKGS=peer/feed
MUTATE_PKGS ?= shared/identity shared/signed peer/feed peer/post peer/store peer/syncer peer/nat=punch.go,packet.go,gate.go \
	peer/ui=session.go,server.go,compose.go,token.go peer/public peer/backup peer/backup/strength rendezvous/server rendezvous/store \
	shared/device peer/device peer/carry peer/reach=offer.go,dial.go,paths.go,live.go,own.go,relayanswer.go,relayprime.go,relayprep.go,relaycreds.go,dialback.go \
	peer/portmap peer/discovery=seal.go,devices.go peer/recovery peer/transport=back.go
MUTATE_WORKERS ?= 2
# Tests left out of a package's mutant runs (each run would take minutes): the Chromium
# tests of peer/ui drive the same handlers the fast CSRF, session and Host tests check;
# TestOpenerSeesNoToken builds and runs bin/kith (12 s) for what TestLoginLinks checks
# in-process; peer/portmap's TestLab (75 s a mutant, a real miniupnpd) checks against a
# router what its loopback tests check byte by byte. Leaving a test out can only lower a
# score.
MUTATE_SKIP ?= --skip 'peer/ui:^(TestWebApp|TestWebAppConversation|TestOpenerSeesNoToken)$$' \
	--skip 'peer/portmap:^TestLab$$'

mutate: ## mutation scores (gremlins, each package's own tests): one line a package, fails below 90% efficacy or 80% coverage
	$(GO) run ./shared/mutation/cmd/kith-mutate --workers $(MUTATE_WORKERS) --efficacy 90 --coverage 80 $(MUTATE_SKIP) \
		--equivalent mutate-equivalent.txt --figures mutate-figures.txt $(MUTATE_PKGS)

demo: build ## two peers and a rendezvous on loopback: befriend, post a photo, sync, show the timeline
	bash deploy/demo.sh

clean: ## remove build output
	rm -rf bin mutate-figures.txt
