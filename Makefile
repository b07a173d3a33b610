# dnslb — `make run` serves testdata/dnslb.toml on 127.0.0.1:5353;
# `make test` runs every test (installing the tools the tests drive).
GO      ?= go
BIN     := cmd/dnslb/dnslb
CONFIG  ?= testdata/dnslb.toml
# Debian packages the tests drive: dig, a browser, a parent server and a
# resolver for the end-to-end delegation test, dnsperf for the upgrade test,
# python3 for the example backend, the update clients of BIND (nsupdate,
# in dnsutils) and Knot (knsupdate), knotd to compare DNS cookies with and
# as secondary and primary of zone transfers.
TEST_PKGS := dnsutils chromium nsd unbound dnsperf python3 knot-dnsutils knot
TEST_CMDS := dig chromium nsd unbound dnsperf python3 nsupdate knsupdate knotd

# make install: where the binary and the systemd unit go (DESTDIR stages).
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
UNITDIR ?= /etc/systemd/system
PKGFILES := cmd/dnslb-package/files
# make deb: a Debian version (from the last commit unless given) and output.
DEB_VERSION ?= 0.1.0~git$(shell git log -1 --format=%cd.%h --date=format:%Y%m%d 2>/dev/null)
DEB_ARCH    ?= $(shell $(GO) env GOARCH)
DEB_OUT     ?= dnslb_$(DEB_VERSION)_$(DEB_ARCH).deb

.PHONY: build run test vet tools bench fuzz soak clean screenshot scale install deb geoscale

build:
	$(GO) build -o $(BIN) ./cmd/dnslb

run: build
	./$(BIN) -config $(CONFIG)

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }

# Installs what the tests need when it is missing (we run as root; package
# scripts are kept from starting services, so nothing binds port 53 behind
# the tests' back). A mirror's hiccup must not fail CI: apt-get retries its
# downloads and waits for the dpkg lock, and the whole step is tried three
# times before it fails.
tools:
	@missing=; for c in $(TEST_CMDS); do command -v $$c >/dev/null 2>&1 || missing=1; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing $(TEST_PKGS)"; \
	  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d; \
	  aptq() { DEBIAN_FRONTEND=noninteractive apt-get -qq -o Acquire::Retries=3 -o DPkg::Lock::Timeout=300 "$$@"; }; \
	  ok=; for try in 1 2 3; do \
	    if aptq update && aptq install -y --no-install-recommends $(TEST_PKGS) >/dev/null; then ok=1; break; fi; \
	    echo "apt-get failed (try $$try of 3)"; [ $$try = 3 ] || sleep 15; \
	  done; \
	  rm -f /usr/sbin/policy-rc.d; \
	  [ -n "$$ok" ] || { echo "could not install $(TEST_PKGS)"; exit 1; }; \
	fi

# -timeout: a hung test fails with its stacks within CI's 15 minutes
# (tools and vet included); a run takes some 6 on a 2-core machine.
test: tools vet
	$(GO) test -race -count=1 -timeout 10m ./...

bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./...
	DNSLB_CMD='$(BIN) -config testdata/bench/dnslb.toml' testdata/bench/compare.sh

# Each fuzz target for FUZZTIME; `make test` runs their seed corpora.
FUZZTIME ?= 1m
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzHandlerUDP$$' -fuzztime $(FUZZTIME) ./dnslb
	$(GO) test -run '^$$' -fuzz '^FuzzHandlerTCP$$' -fuzztime $(FUZZTIME) ./dnslb
	$(GO) test -run '^$$' -fuzz '^FuzzCheckWire$$' -fuzztime $(FUZZTIME) ./dnslb
	$(GO) test -run '^$$' -fuzz '^FuzzConfig$$' -fuzztime $(FUZZTIME) ./dnslb/config
	$(GO) test -run '^$$' -fuzz '^FuzzStateFile$$' -fuzztime $(FUZZTIME) ./dnslb
	$(GO) test -run '^$$' -fuzz '^FuzzZone$$' -fuzztime $(FUZZTIME) ./zones
	$(GO) test -run '^$$' -fuzz '^FuzzCookie$$' -fuzztime $(FUZZTIME) ./dnslb/cookie
	$(GO) test -run '^$$' -fuzz '^FuzzJudge$$' -fuzztime $(FUZZTIME) ./health
	$(GO) test -run '^$$' -fuzz '^FuzzParseLoad$$' -fuzztime $(FUZZTIME) ./health
	$(GO) test -run '^$$' -fuzz '^FuzzClusterMessage$$' -fuzztime $(FUZZTIME) ./dnslb/cluster
	$(GO) test -run '^$$' -fuzz '^FuzzParseNets$$' -fuzztime $(FUZZTIME) ./dnslb/geo
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./dnslb/journal
	$(GO) test -run '^$$' -fuzz '^FuzzUpdate$$' -fuzztime $(FUZZTIME) ./dnslb/update
	$(GO) test -run '^$$' -fuzz '^FuzzTransferType$$' -fuzztime $(FUZZTIME) ./dnslb

clean:
	rm -f $(BIN) $(BIN)-deb

# Installs the binary, the systemd unit, /etc/dnslb with the example config
# (an existing one is kept), and runs the package's postinst: the dnslb
# system user, /var/lib/dnslb and a random admin token readable by dnslb
# only. With DESTDIR, everything is staged there and the user, ownership
# and systemd are left to the target host.
install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/dnslb
	install -d -m 0755 $(DESTDIR)$(UNITDIR) $(DESTDIR)/etc/dnslb
	sed 's|@BINDIR@|$(BINDIR)|g' $(PKGFILES)/dnslb.service > $(DESTDIR)$(UNITDIR)/dnslb.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/dnslb.service
	test -e $(DESTDIR)/etc/dnslb/dnslb.toml || install -m 0644 $(PKGFILES)/dnslb.toml $(DESTDIR)/etc/dnslb/dnslb.toml
	DNSLB_ROOT='$(DESTDIR)' sh $(PKGFILES)/postinst configure

# A Debian package of the same layout (binary in /usr/bin), built with nfpm
# by cmd/dnslb-package.
deb:
	$(GO) build -ldflags '-s -w -X main.version=$(DEB_VERSION)' -o $(BIN)-deb ./cmd/dnslb
	$(GO) run ./cmd/dnslb-package -bin $(BIN)-deb -version '$(DEB_VERSION)' -arch $(DEB_ARCH) -out '$(DEB_OUT)'

# Refreshes the status page screenshot the README shows.
screenshot: tools
	$(GO) test -count=1 -run '^TestStatusPageInBrowser$$' ./dnslb -screenshot $(CURDIR)/testdata/status-page.png

# Soaks dnslb on loopback for $(SOAK): dnsperf at 20,000 q/s while the pool's
# backends flap every 3-8 s and the config is reloaded every 10 s; prints a
# summary and fails on a lost query, a SERVFAIL, a stale or empty answer, a
# failed reload, or RSS or goroutine growth of 10% or more (dnslb/internal/soak:
# a tool run from here, not a product binary, so it is not under cmd/).
# SOAKFLAGS passes more flags, e.g. SOAKFLAGS=-keep keeps the logs and samples.
SOAK ?= 10m
soak:
	@command -v dnsperf >/dev/null 2>&1 || { echo "installing dnsperf"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends dnsperf >/dev/null; }
	$(GO) run ./dnslb/internal/soak -duration $(SOAK) $(SOAKFLAGS)

# Load time and peak memory of a 1M-record zone and of 10,000 pools, beside Knot.
scale: build
	testdata/bench/scale.sh

# Load time and peak memory of a geo map over a generated database of
# 1,000,000 networks (written once to GEODB, which takes a minute or two),
# beside the same config without the map.
GEODB ?= /tmp/dnslb-geo-1m.mmdb
geoscale:
	@test -f $(GEODB) || { echo "writing $(GEODB)"; $(GO) run ./dnslb/geo/geotest/mkgeodb -n 1000000 -out $(GEODB); }
	testdata/bench/geoscale.sh $(GEODB)
