package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"reflect"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/buyerauth"
	"github.com/seckill/seckill/schema"
)

func envOf(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

func TestConfigDefaultsAreTheContracts(t *testing.T) {
	c, err := loadConfig(envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"HTTPAddr": "127.0.0.1:8080", "RedisAddrs": []string{"127.0.0.1:6379"}, "RedisCluster": false,
		"MySQLDSN": "seckill:seckill@tcp(127.0.0.1:3306)/seckill?parseTime=true",
		"Namesrv":  []string{"127.0.0.1:9876"}, "AdminToken": "", "Topic": "seckill-topic",
		"ConsumerGroup": "seckill-consumer", "MaxPerUser": int64(1), "Throttle": 1000,
		"BuyerAuth": "jwt", "BuyerSecret": "",
		"PaymentTimeout": 15 * time.Minute, "Consumers": true,
	}
	v := reflect.ValueOf(c)
	for field, w := range want {
		if got := v.FieldByName(field).Interface(); !reflect.DeepEqual(got, w) {
			t.Errorf("%s = %v, want %v", field, got, w)
		}
	}
	if len(c.RetrySchedule) != 16 || c.RetrySchedule[0] != 10*time.Second || c.RetrySchedule[15] != 2*time.Hour {
		t.Errorf("retry schedule = %v, want RocketMQ's 16 steps from 10s to 2h", c.RetrySchedule)
	}
}

// TestRedisClusterConfig: several SECKILL_REDIS_ADDR addresses, or SECKILL_REDIS_CLUSTER=true with one, make the
// client a Redis Cluster client; one address alone stays the single-node client.
func TestRedisClusterConfig(t *testing.T) {
	cases := map[string]struct {
		env     map[string]string
		cluster bool
	}{
		"one address":      {map[string]string{"SECKILL_REDIS_ADDR": "127.0.0.1:6379"}, false},
		"several":          {map[string]string{"SECKILL_REDIS_ADDR": "127.0.0.1:17001, 127.0.0.1:17002,127.0.0.1:17003"}, true},
		"one, cluster set": {map[string]string{"SECKILL_REDIS_ADDR": "127.0.0.1:17001", "SECKILL_REDIS_CLUSTER": "true"}, true},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			cfg, err := loadConfig(envOf(c.env))
			if err != nil {
				t.Fatal(err)
			}
			rdb := schema.NewClient(cfg.redisOptions())
			defer rdb.Close()
			if _, isCluster := rdb.(*redis.ClusterClient); isCluster != c.cluster {
				t.Fatalf("addresses %v: client %T, want cluster %t", cfg.RedisAddrs, rdb, c.cluster)
			}
		})
	}
	cfg, err := loadConfig(envOf(map[string]string{"SECKILL_ROCKETMQ_BROKER": "127.0.0.1:30911,127.0.0.1:31911"}))
	if err != nil || !reflect.DeepEqual(cfg.Brokers, []string{"127.0.0.1:30911", "127.0.0.1:31911"}) {
		t.Fatalf("brokers %v (%v), want both", cfg.Brokers, err)
	}
}

func TestBadConfigNamesTheVariable(t *testing.T) {
	cases := map[string]string{
		"SECKILL_MYSQL_DSN":         "not a dsn",
		"SECKILL_REDIS_ADDR":        "localhost",
		"SECKILL_REDIS_CLUSTER":     "yes please",
		"SECKILL_ROCKETMQ_BROKER":   "127.0.0.1:30911,",
		"SECKILL_HTTP_ADDR":         "127.0.0.1:99999",
		"SECKILL_ROCKETMQ_NAMESRV":  "127.0.0.1:9876,nohost",
		"SECKILL_MAX_PER_USER":      "0",
		"SECKILL_RATE_PER_USER":     "-1",
		"SECKILL_CONSUMER_THROTTLE": "lots",
		"SECKILL_PAYMENT_TIMEOUT":   "15",
		"SECKILL_RETRY_SCHEDULE":    "10s,,1m",
		"SECKILL_CONSUMERS":         "maybe",
		"SECKILL_LOG_LEVEL":         "loud",
		"SECKILL_TOPIC":             "seckill.topic",
		"SECKILL_BUYER_AUTH":        "none",
		"SECKILL_BUYER_JWT_SECRET":  "too-short",
	}
	for name, value := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := loadConfig(envOf(map[string]string{name: value}))
			if err == nil || !strings.HasPrefix(err.Error(), name+"=") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q, want one line starting with %s=", err, name)
			}
		})
	}
	t.Run("dsn without parseTime", func(t *testing.T) {
		_, err := loadConfig(envOf(map[string]string{"SECKILL_MYSQL_DSN": "u:p@tcp(127.0.0.1:3306)/seckill"}))
		if err == nil || !strings.Contains(err.Error(), "parseTime") {
			t.Fatalf("error %v", err)
		}
	})
}

// TestServeStopsAtStartWhenADependencyIsUnreachable: an unreachable Redis or MySQL stops `seckill serve` with
// one line naming the variable.
func TestServeStopsAtStartWhenADependencyIsUnreachable(t *testing.T) {
	for name, env := range map[string]map[string]string{
		"SECKILL_REDIS_ADDR": {"SECKILL_REDIS_ADDR": "127.0.0.1:1"},
		"SECKILL_MYSQL_DSN":  {"SECKILL_MYSQL_DSN": "seckill:seckill@tcp(127.0.0.1:1)/seckill?parseTime=true&timeout=1s"},
	} {
		t.Run(name, func(t *testing.T) {
			env["SECKILL_BUYER_JWT_SECRET"] = testBuyerSecret
			var out, errOut bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := run(ctx, []string{"serve"}, envOf(env), &out, &errOut)
			if err == nil || !strings.Contains(err.Error(), name) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("serve error %q, want one line naming %s", err, name)
			}
		})
	}
}

const testBuyerSecret = "config-test-buyer-secret-32-bytes-long"

// TestJWTModeWithoutSecretStopsServe: in jwt mode (the default) serve refuses to start without
// SECKILL_BUYER_JWT_SECRET, with one line naming it, before it connects to anything; trusted mode does not need it.
func TestJWTModeWithoutSecretStopsServe(t *testing.T) {
	unreachable := map[string]string{"SECKILL_REDIS_ADDR": "127.0.0.1:1"}
	for name, env := range map[string]map[string]string{"default": {}, "jwt": {"SECKILL_BUYER_AUTH": "jwt"}} {
		t.Run(name, func(t *testing.T) {
			maps.Copy(env, unreachable)
			err := run(context.Background(), []string{"serve"}, envOf(env), io.Discard, io.Discard)
			if err == nil || !strings.HasPrefix(err.Error(), "SECKILL_BUYER_JWT_SECRET") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("serve error %q, want one line starting with SECKILL_BUYER_JWT_SECRET", err)
			}
		})
	}
	t.Run("trusted", func(t *testing.T) {
		env := map[string]string{"SECKILL_BUYER_AUTH": "trusted"}
		maps.Copy(env, unreachable)
		err := run(context.Background(), []string{"serve"}, envOf(env), io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "SECKILL_REDIS_ADDR") {
			t.Fatalf("trusted serve error %q, want it to get as far as Redis", err)
		}
	})
	t.Run("unreadable public key", func(t *testing.T) {
		env := map[string]string{"SECKILL_BUYER_JWT_SECRET": testBuyerSecret, "SECKILL_BUYER_JWT_PUBLIC_KEY": "/nonexistent.pem"}
		err := run(context.Background(), []string{"serve"}, envOf(env), io.Discard, io.Discard)
		if err == nil || !strings.HasPrefix(err.Error(), "SECKILL_BUYER_JWT_PUBLIC_KEY") {
			t.Fatalf("serve error %q, want it to name SECKILL_BUYER_JWT_PUBLIC_KEY", err)
		}
	})
}

// TestTokenCommandPrintsAVerifiableToken: `seckill token -user N -ttl D` prints a token of buyer N that the
// server's verifier accepts, valid for D.
func TestTokenCommandPrintsAVerifiableToken(t *testing.T) {
	var out bytes.Buffer
	env := envOf(map[string]string{"SECKILL_BUYER_JWT_SECRET": testBuyerSecret})
	if err := run(context.Background(), []string{"token", "-user", "1002", "-ttl", "10m"}, env, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	v, err := buyerauth.NewVerifier(buyerauth.Config{Secret: []byte(testBuyerSecret)})
	if err != nil {
		t.Fatal(err)
	}
	if id, err := v.Verify(strings.TrimSpace(out.String())); err != nil || id != 1002 {
		t.Fatalf("token %q: buyer %d, %v; want 1002", out.String(), id, err)
	}
	late, _ := buyerauth.NewVerifier(buyerauth.Config{Secret: []byte(testBuyerSecret),
		Now: func() time.Time { return time.Now().Add(11 * time.Minute) }})
	if _, err := late.Verify(strings.TrimSpace(out.String())); !errors.Is(err, buyerauth.ErrExpired) {
		t.Fatalf("a 10m token 11 minutes later: %v, want expired", err)
	}
	for name, args := range map[string][]string{"no user": {}, "user 0": {"-user", "0"}, "negative ttl": {"-user", "1", "-ttl", "-1h"}} {
		if err := run(context.Background(), append([]string{"token"}, args...), env, io.Discard, io.Discard); !errors.Is(err, errUsage) {
			t.Errorf("%s: %v, want usage", name, err)
		}
	}
	err = run(context.Background(), []string{"token", "-user", "1"}, envOf(nil), io.Discard, io.Discard)
	if err == nil || !strings.HasPrefix(err.Error(), "SECKILL_BUYER_JWT_SECRET") {
		t.Fatalf("token without a secret: %v", err)
	}
}

// TestRuntimeDefaultsYieldToTheEnvironment: serve and consume collect at GOGC=400 under a 110 MiB soft limit
// unless the environment names its own GOGC or GOMEMLIMIT, which then stay as the runtime read them, and sample
// the heap only when SECKILL_PPROF_ADDR serves the profile.
func TestRuntimeDefaultsYieldToTheEnvironment(t *testing.T) {
	gcPercent := func() int { v := debug.SetGCPercent(100); debug.SetGCPercent(v); return v }
	savedPercent, savedLimit, savedRate := gcPercent(), debug.SetMemoryLimit(-1), runtime.MemProfileRate
	t.Cleanup(func() {
		debug.SetGCPercent(savedPercent)
		debug.SetMemoryLimit(savedLimit)
		runtime.MemProfileRate = savedRate
	})
	for _, c := range []struct {
		env     map[string]string
		percent int
		limit   int64
	}{
		{map[string]string{}, defaultGOGC, defaultGOMEMLIMIT},
		{map[string]string{"GOGC": "150"}, 123, defaultGOMEMLIMIT},
		{map[string]string{"GOMEMLIMIT": "1GiB"}, defaultGOGC, 77 << 20},
		{map[string]string{"GOGC": "off", "GOMEMLIMIT": "1GiB"}, 123, 77 << 20},
		{map[string]string{"SECKILL_PPROF_ADDR": "127.0.0.1:6060"}, defaultGOGC, defaultGOMEMLIMIT},
	} {
		debug.SetGCPercent(123)
		debug.SetMemoryLimit(77 << 20)
		runtime.MemProfileRate = 4096
		runtimeDefaults(func(k string) string { return c.env[k] })
		if p, l := gcPercent(), debug.SetMemoryLimit(-1); p != c.percent || l != c.limit {
			t.Errorf("env %v: GOGC %d, limit %d; want %d, %d", c.env, p, l, c.percent, c.limit)
		}
		wantRate := 0
		if c.env["SECKILL_PPROF_ADDR"] != "" {
			wantRate = 4096
		}
		if runtime.MemProfileRate != wantRate {
			t.Errorf("env %v: MemProfileRate %d, want %d", c.env, runtime.MemProfileRate, wantRate)
		}
	}
}

// With the throttle on, the projection's Batcher waits a little for the rest of the burst the throttle let through;
// without it, batches take what queued up and never wait.
func TestBatcherWaitsForTheThrottlesBurstOnlyWhenThrottled(t *testing.T) {
	if w := batchWait(Config{Throttle: 1000}); w != throttledBatchWait || w <= 0 || w >= 100*time.Millisecond {
		t.Errorf("throttled batch wait = %s, want %s: more than nothing, well under the throttle's tick", w, throttledBatchWait)
	}
	if w := batchWait(Config{Throttle: 0}); w != 0 {
		t.Errorf("unthrottled batch wait = %s, want 0", w)
	}
}
