package main

import (
	"bytes"
	"context"
	"reflect"
	"strings"
	"testing"
	"time"
)

func envOf(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

func TestConfigDefaultsAreTheContracts(t *testing.T) {
	c, err := loadConfig(envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"HTTPAddr": "127.0.0.1:8080", "RedisAddr": "127.0.0.1:6379",
		"MySQLDSN": "seckill:seckill@tcp(127.0.0.1:3306)/seckill?parseTime=true",
		"Namesrv":  []string{"127.0.0.1:9876"}, "AdminToken": "", "Topic": "seckill-topic",
		"ConsumerGroup": "seckill-consumer", "MaxPerUser": int64(1), "Throttle": 1000,
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

func TestBadConfigNamesTheVariable(t *testing.T) {
	cases := map[string]string{
		"SECKILL_MYSQL_DSN":         "not a dsn",
		"SECKILL_REDIS_ADDR":        "localhost",
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
