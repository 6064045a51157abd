# CountyLink: edge agents, hub and dashboard for a county's rural logistics.
# `make run` needs only Go; `make test` also installs Mosquitto, InfluxDB 1.8
# and qemu-user-static when they are missing (Debian, as root), and runs the
# PostgreSQL store's tests on the machine's server (127.0.0.1:5432 or the
# local socket, user postgres; COUNTYLINK_TEST_PG names another), each in a
# fresh database.

GO        ?= go
BIN       := bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/countylink/countylink/edge/agent.Version=$(VERSION) -X main.version=$(VERSION)
GOPATHBIN := $(shell $(GO) env GOPATH)/bin
INFLUXD   := $(GOPATHBIN)/influxd
STATICCHECK         := $(GOPATHBIN)/staticcheck
STATICCHECK_VERSION := v0.8.2

HTTP_LISTEN       ?= 127.0.0.1:8080
BROKER_LISTEN     ?= 127.0.0.1:18830
BROKER_TLS_LISTEN ?= 127.0.0.1:18883

.PHONY: all build cross run test test-short deps staticcheck-install vet fuzz bench screenshots clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./hub/cmd/hub ./edge/cmd/edge-agent ./edge/cmd/devsim ./edge/cmd/fleetsim

# The edge agent for Raspberry Pi class boxes: 64-bit (Pi 3/4/5 with a
# 64-bit OS) and 32-bit ARMv7 (Pi 2/3 with Raspberry Pi OS 32-bit).
cross:
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/linux-arm64/edge-agent ./edge/cmd/edge-agent
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/linux-armv7/edge-agent ./edge/cmd/edge-agent

# The whole county on this machine: the hub with its embedded broker and
# store (data in ./data), and a simulated edge agent per township. The hub
# prints the admin's login (first start; then it is in data/admin-password)
# and the wall screen's kiosk URL; devsim calls the API with the token it
# writes to data/demo-api-token. The broker is secured: at its first start
# the hub makes a county CA and a certificate for every simulated client
# (data/pki), which devsim's clients log in with over TLS. Ctrl-C stops both.
run: build
	@echo "Starting the hub (dashboard http://$(HTTP_LISTEN)) and 19 simulated township warehouses; Ctrl-C stops."
	@trap 'kill -INT $$hub $$sim 2>/dev/null; wait' INT TERM; \
	$(BIN)/hub -demo -listen $(HTTP_LISTEN) -broker-listen $(BROKER_LISTEN) -broker-tls-listen $(BROKER_TLS_LISTEN) & hub=$$!; \
	$(BIN)/devsim -county -hub http://$(HTTP_LISTEN) -broker ssl://$(BROKER_TLS_LISTEN) -pki data/pki -state data/edges -token-file data/demo-api-token & sim=$$!; \
	wait $$hub; kill -INT $$sim 2>/dev/null; wait $$sim

# Real services the integration tests start on their own ports.
deps:
	@command -v mosquitto >/dev/null 2>&1 || test -x /usr/sbin/mosquitto || { \
		echo "installing mosquitto"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto; }
	@command -v qemu-aarch64-static >/dev/null 2>&1 || { \
		echo "installing qemu-user-static"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static; }
	@test -x /usr/bin/chromium && test -d /usr/share/fonts/opentype/noto || { \
		echo "installing chromium and CJK fonts for the browser tests"; apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk; }
	@test -x $(INFLUXD) || { echo "building influxd 1.8.10 (about a minute)"; \
		$(GO) install github.com/influxdata/influxdb/cmd/influxd@v1.8.10; }
	@$(MAKE) --no-print-directory staticcheck-install

# staticcheck (honnef.co/go/tools), built once (about 45 s).
staticcheck-install:
	@test -x $(STATICCHECK) || { echo "building staticcheck $(STATICCHECK_VERSION) (under a minute)"; \
		$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION); }

vet: staticcheck-install
	$(GO) vet ./...
	$(STATICCHECK) ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }

test: deps vet
	PATH="$(GOPATHBIN):/usr/sbin:$$PATH" $(GO) test -count=1 -timeout 12m ./...

# Unit tests only, no services.
test-short:
	$(GO) test -short -count=1 ./...

# Short fuzzing of every decoder of outside input.
FUZZTIME ?= 15s
fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzDecode$$' -fuzztime=30s ./contract/
	$(GO) test -run='^$$' -fuzz='^FuzzParseTopic$$' -fuzztime=$(FUZZTIME) ./contract/
	$(GO) test -run='^$$' -fuzz='^FuzzDecodeSortPlan$$' -fuzztime=$(FUZZTIME) ./contract/
	$(GO) test -run='^$$' -fuzz='^FuzzCheckAnswer$$' -fuzztime=$(FUZZTIME) ./edge/modbus/
	$(GO) test -run='^$$' -fuzz='^FuzzXK3190$$' -fuzztime=$(FUZZTIME) ./edge/scale/
	$(GO) test -run='^$$' -fuzz='^FuzzToledo$$' -fuzztime=$(FUZZTIME) ./edge/scale/
	$(GO) test -run='^$$' -fuzz='^FuzzLines$$' -fuzztime=$(FUZZTIME) ./edge/scanner/
	$(GO) test -run='^$$' -fuzz='^FuzzEvdev$$' -fuzztime=$(FUZZTIME) ./edge/scanner/
	$(GO) test -run='^$$' -fuzz='^FuzzParse$$' -fuzztime=$(FUZZTIME) ./edge/waybill/
	$(GO) test -run='^$$' -fuzz='^FuzzParseSortCode$$' -fuzztime=$(FUZZTIME) ./edge/waybill/
	$(GO) test -run='^$$' -fuzz='^FuzzRecover$$' -fuzztime=$(FUZZTIME) ./edge/queue/
	$(GO) test -run='^$$' -fuzz='^FuzzModbusTCPFrame$$' -fuzztime=$(FUZZTIME) ./edge/sim/
	$(GO) test -run='^$$' -fuzz='^FuzzRTUFrame$$' -fuzztime=$(FUZZTIME) ./edge/sim/
	# Every JSON route through the whole handler, over SQLite; a short
	# minimisation, each of its runs being a request.
	$(GO) test -run='^$$' -fuzz='^FuzzJSONRoutes$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s ./hub/httpapi/

# Performance figures, each against a baseline measured in the same run
# (see the README's Benchmarks). The end-to-end ones drain a 1,000,000-message
# backlog; BENCH_MESSAGES=100000 make bench is a quicker look.
bench: deps
	@mkdir -p $(BIN) && : > $(BIN)/bench.txt
	PATH="$(GOPATHBIN):/usr/sbin:$$PATH" $(GO) test -run='^$$' -bench=. -benchmem -count=1 \
		./edge/queue/ ./edge/station/ ./edge/modbus/ ./hub/ingest/ ./hub/influx/ ./hub/sqlite/ ./hub/alarm/ ./hub/notify/ \
		2>&1 | tee -a $(BIN)/bench.txt
	PATH="$(GOPATHBIN):/usr/sbin:$$PATH" $(GO) test -run='^$$' -bench='AgentScanToLamp|ScanToHubRelight' -benchtime=1x -count=1 -v ./edge/agent/ \
		2>&1 | tee -a $(BIN)/bench.txt | grep -E '^(Benchmark|ok|FAIL|---)|warehouse_test|hub_test'
	PATH="$(GOPATHBIN):/usr/sbin:$$PATH" $(GO) test -run='^$$' -bench='Replay1M|HubIngest|IngestTLS|EdgeAgentRSS|WallScreens|WallFirstRender|Fleet10k' -benchtime=1x -count=1 -timeout 60m -v ./deploy/e2e/ \
		2>&1 | tee -a $(BIN)/bench.txt | grep -E '^(Benchmark|ok|FAIL|---)|bench_test|bench_ingest_test|bench_rss_test|bench_wall_test|bench_fleet_test|bench_tls_test'
	@echo; echo "The table (all output in $(BIN)/bench.txt):"; echo
	$(GO) run ./deploy/cmd/benchtable < $(BIN)/bench.txt

# The README's screenshots: the wall screen in Chinese and English, from a
# real hub fed over MQTT, rendered by headless Chromium.
screenshots: deps
	SCREENSHOTS_DIR=$(CURDIR)/dashboard/screenshots PATH="$(GOPATHBIN):/usr/sbin:$$PATH" \
		$(GO) test -count=1 -run Screenshots ./deploy/e2e/

clean:
	rm -rf $(BIN)
