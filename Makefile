# seckill: `make run` starts everything and serves the API on 127.0.0.1:8080; `make test` runs every test against
# real Redis, MariaDB and RocketMQ, which `make services` installs and starts on loopback.
SHELL := /bin/bash
GO ?= go
BIN := bin/seckill
DEV_ADMIN_TOKEN ?= dev-admin-token
export SECKILL_ADMIN_TOKEN ?= $(DEV_ADMIN_TOKEN)
# Development only: buyer tokens of `make run` are signed with it (`bin/seckill token -user N` mints one).
DEV_BUYER_JWT_SECRET ?= dev-buyer-jwt-secret-not-for-production
export SECKILL_BUYER_JWT_SECRET ?= $(DEV_BUYER_JWT_SECRET)

.PHONY: all build run services services-down services-status services-cluster services-cluster-down run-cluster test-cluster test-cluster-short restart-broker reset-broker chromium test test-race test-pubsub-full test-faults screenshots bench vet fmt clean dashboards tools prometheus prometheus-down

all: build

build:
	$(GO) build -o $(BIN) ./cmd/seckill

services:
	@scripts/services.sh up

services-down:
	@scripts/services.sh down

services-status:
	@scripts/services.sh status

restart-broker:
	@scripts/services.sh restart-broker

# The broker on an empty store (every topic, message and offset gone): for a development broker that the tests'
# own topics and groups have filled with thousands, before measuring it (make bench).
reset-broker:
	@scripts/services.sh reset-broker

# The cluster stack (docs/scaling.md): Redis Cluster 17001-17006 (3 masters, 3 replicas), RocketMQ NameServer 29876
# with broker-a 30911 and broker-b 31911, the shared MariaDB; prints its SECKILL_* settings. Run dir .run/cluster.
services-cluster:
	@scripts/cluster.sh up

services-cluster-down:
	@scripts/cluster.sh down

# seckill on the cluster stack: serve-a :28081 and serve-b :28082 (no consumers), consume-a and consume-b.
run-cluster: services-cluster
	@scripts/cluster.sh app-up

# A sale over two serves and two consumes on the cluster stack, with one serve, one consume and one Redis master
# killed mid-sale, checked order by order (faults.TestClusterSale). The stack stays up (make services-cluster-down).
test-cluster: services-cluster
	SECKILL_CLUSTER=1 $(GO) test -count=1 -v -timeout 20m -run TestClusterSale ./faults/

# Its short form (about 2 minutes once the stack is up), for CI.
test-cluster-short: services-cluster
	SECKILL_CLUSTER=1 $(GO) test -short -count=1 -v -timeout 10m -run TestClusterSale ./faults/

# Debian's chromium (and a Chinese font) for the real-browser tests of the pages; installs only what is missing.
chromium:
	@scripts/chromium.sh >/dev/null

run: services build
	@$(BIN) migrate
	@echo "admin token (development): $(SECKILL_ADMIN_TOKEN)"
	@echo "buyer's page:    http://127.0.0.1:8080/  (development sign-in by user id)"
	@echo "operator's page: http://127.0.0.1:8080/admin/  (admin token above)"
	@tok=$$($(BIN) token -user 1002 -ttl 24h) && \
	echo "buyer token of user 1002 (development, 24h; bin/seckill token -user N mints others): $$tok" && \
	echo "buy one:    curl -s -XPOST -H 'Authorization: Bearer $$tok' localhost:8080/seckill/kill -d '{\"productId\":1,\"quantity\":1}'" && \
	echo "result:     curl -s -H 'Authorization: Bearer $$tok' 'localhost:8080/seckill/result?productId=1'"
	@echo "audit:      curl -s -H 'Authorization: Bearer $(SECKILL_ADMIN_TOKEN)' localhost:8080/admin/products/1/audit"
	$(BIN) serve -seed -dev

# Prometheus/promtool and headless Chromium from Debian's packages, for the deploy/, bench report and page tests.
tools: chromium
	@scripts/observability.sh install

# A Prometheus on 127.0.0.1:19090 with deploy/prometheus/alerts.yml, scraping `make run` (127.0.0.1:8080) every 2s.
prometheus:
	@scripts/observability.sh up

prometheus-down:
	@scripts/observability.sh down

# Every test, real services included: a missing service fails the test (SECKILL_REQUIRE_SERVICES=1).
# -short runs the short form of the Watermill universal suite (TestReconnect's broker restarts included; test-pubsub-full
# runs it whole) and the short form of the fault suite (kill -9 serve, SIGTERM serve, kill -9 broker; on its own
# stack; test-faults runs it whole) and of the cluster sale (faults.TestClusterSale on the cluster stack, which it
# starts and stops when it was not up; test-cluster runs it whole). -p 1: some tests stop and start the shared
# broker or MariaDB, so packages take turns.
# Then the race detector over every package (RACE_TEST, below).
test: services tools
	SECKILL_REQUIRE_SERVICES=1 SECKILL_TEST_BROKER_RESTARTS=1 $(GO) test -short -count=1 -p 1 -timeout 25m ./...
	$(RACE_TEST)

# The race detector over every package, rocketmqpubsub included, in the -short form. rocketmq-client-go races in its
# own consumer shutdown (rmqClient.Shutdown writes its close flag while a rebalance reads it); race builds of
# rocketmqpubsub avoid that one path by shutting each consumer down while its last rebalance is held still
# (rocketmqpubsub/shutdown_race.go), production builds call Shutdown directly. Skipped here, having run in the plain
# pass: the tests that stop the shared MariaDB or broker (their -race run would stop them again) and the fault suite's
# kill/SIGTERM scenarios and the cluster sale (on their own stacks, against a seckill binary built without -race). Without
# SECKILL_TEST_BROKER_RESTARTS, TestReconnect skips. With nothing stopping the services, two packages run at a time
# (-p 2): about 5 minutes, against 8 one at a time.
RACE_SKIP := ^(TestMySQLDownForTwentySecondsLosesNothing|TestSellingThroughABrokerOutage|TestKillServe|TestSIGTERMServe|TestKillBroker|TestClusterSale)$$
RACE_TEST = SECKILL_REQUIRE_SERVICES=1 $(GO) test -race -short -count=1 -p 2 -timeout 25m -skip '$(RACE_SKIP)' ./...

test-race: services tools
	$(RACE_TEST)

test-pubsub-full: services
	SECKILL_REQUIRE_SERVICES=1 SECKILL_TEST_BROKER_RESTARTS=1 $(GO) test -count=1 -timeout 45m -v -run . ./rocketmqpubsub/

# The pages' screenshots in docs/screenshots, taken by the real-browser tests.
screenshots: services tools
	SECKILL_REQUIRE_SERVICES=1 SECKILL_SCREENSHOTS=$(CURDIR)/docs/screenshots $(GO) test -count=1 -run 'Page' ./cmd/seckill/

# deploy/grafana/dashboards/seckill.json from the panels declared in deploy/dashboards/panels.go.
dashboards:
	$(GO) generate ./deploy/dashboards

# The fault suite (docs/faults.md): its own Redis, MariaDB and RocketMQ on ports 16379/13306/19876/20911 (run dir
# .run/faults), real seckill processes, faults mid-sale, every answer checked order by order. About 10 minutes.
test-faults:
	SECKILL_REQUIRE_SERVICES=1 $(GO) test -count=1 -v -timeout 30m -skip TestClusterSale ./faults/

vet:
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin

# The reservation-phase benchmark (issue 13): the bare, one-EVALSHA and AutoPipeline ceilings, the reservation,
# open-loop and sold-out phases of seckill serve, token cost, RSS, broker CPU and the sale's invariants in one table.
bench: services
	@scripts/bench.sh
