// Package rmqtest gives rocketmqpubsub's tests the RocketMQ they run against, from the environment:
// SECKILL_ROCKETMQ_NAMESRV and SECKILL_ROCKETMQ_BROKER (default 127.0.0.1:9876 and 127.0.0.1:10911).
//
// A missing broker fails the test, so a run without one never ends in a silent ok. Only an explicit
// SECKILL_SKIP_SERVICES=1 turns the failure into a skip, and SECKILL_REQUIRE_SERVICES=1 overrides that opt-out.
// It lives inside rocketmqpubsub so the package and its tests can be copied out together.
package rmqtest

import (
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Namesrv returns the NameServer address after checking that the NameServer and the broker accept connections.
func Namesrv(t testing.TB) string {
	t.Helper()
	addr := env("SECKILL_ROCKETMQ_NAMESRV", "127.0.0.1:9876")
	for _, a := range []string{addr, Broker()} {
		c, err := net.DialTimeout("tcp", a, 2*time.Second)
		if err != nil {
			unavailable(t, err)
		}
		_ = c.Close()
	}
	return addr
}

// Broker returns the broker address (SECKILL_ROCKETMQ_BROKER).
func Broker() string { return env("SECKILL_ROCKETMQ_BROKER", "127.0.0.1:10911") }

// RestartBrokerCommand is the command that restarts the broker for Watermill's TestReconnect, or nil when
// SECKILL_TEST_BROKER_RESTARTS is not 1: restarting disturbs every other user of the broker, so only a run where
// nothing else uses it turns it on. The command is SECKILL_RESTART_BROKER_COMMAND run by bash, by default the
// repository's `scripts/services.sh restart-broker` (relative to the package directory, where go test runs).
func RestartBrokerCommand() []string {
	if os.Getenv("SECKILL_TEST_BROKER_RESTARTS") != "1" {
		return nil
	}
	if cmd := os.Getenv("SECKILL_RESTART_BROKER_COMMAND"); cmd != "" {
		return []string{"bash", "-c", cmd}
	}
	script, err := filepath.Abs(filepath.Join("..", "scripts", "services.sh"))
	if err != nil {
		script = filepath.Join("..", "scripts", "services.sh")
	}
	return []string{"bash", script, "restart-broker"}
}

func unavailable(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("SECKILL_SKIP_SERVICES") == "1" && os.Getenv("SECKILL_REQUIRE_SERVICES") != "1" {
		t.Skipf("RocketMQ unavailable, skipped (SECKILL_SKIP_SERVICES=1): %v", err)
	}
	t.Fatalf("RocketMQ is unavailable (start it, or set SECKILL_SKIP_SERVICES=1 to skip the tests that need it): %v", err)
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
