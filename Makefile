# seckill: `make run` starts everything and serves the API on 127.0.0.1:8080; `make test` runs every test against
# real Redis, MariaDB and RocketMQ, which `make services` installs and starts on loopback.
SHELL := /bin/bash
GO ?= go
BIN := bin/seckill
DEV_ADMIN_TOKEN ?= dev-admin-token
export SECKILL_ADMIN_TOKEN ?= $(DEV_ADMIN_TOKEN)

.PHONY: all build run services services-down services-status restart-broker test test-race test-pubsub-full test-faults bench vet fmt clean

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

run: services build
	@$(BIN) migrate
	@echo "admin token (development): $(SECKILL_ADMIN_TOKEN)"
	@echo "buy one:    curl -s -XPOST localhost:8080/seckill/kill -d '{\"userId\":1002,\"productId\":1,\"quantity\":1}'"
	@echo "result:     curl -s 'localhost:8080/seckill/result?userId=1002&productId=1'"
	@echo "audit:      curl -s -H 'Authorization: Bearer $(SECKILL_ADMIN_TOKEN)' localhost:8080/admin/products/1/audit"
	$(BIN) serve -seed

# Every test, real services included: a missing service fails the test (SECKILL_REQUIRE_SERVICES=1).
# -short runs the short form of the Watermill universal suite; test-pubsub-full runs it whole, and the short form of
# the fault suite (kill -9 serve, SIGTERM serve, kill -9 broker; on its own stack); test-faults runs it whole.
# -p 1: some tests stop and start the shared broker or MariaDB, so packages take turns.
test: services
	SECKILL_REQUIRE_SERVICES=1 $(GO) test -short -count=1 -p 1 -timeout 25m ./...

# rocketmqpubsub is left out: rocketmq-client-go races in its own consumer shutdown (rmqClient.Shutdown vs. the
# rebalance goroutine), which any test that closes a consumer trips.
test-race: services
	SECKILL_REQUIRE_SERVICES=1 $(GO) test -race -short -count=1 -p 1 -timeout 40m $$($(GO) list ./... | grep -v /rocketmqpubsub)

test-pubsub-full: services
	SECKILL_REQUIRE_SERVICES=1 $(GO) test -count=1 -timeout 45m -v -run . ./rocketmqpubsub/

# The fault suite (docs/faults.md): its own Redis, MariaDB and RocketMQ on ports 16379/13306/19876/20911 (run dir
# .run/faults), real seckill processes, faults mid-sale, every answer checked order by order. About 10 minutes.
test-faults:
	SECKILL_REQUIRE_SERVICES=1 $(GO) test -count=1 -v -timeout 30m ./faults/

vet:
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin

# The flash-sale benchmark: bare net/http ceiling, Redis script ceiling and seckill bench side by side.
bench: services
	@scripts/bench.sh
