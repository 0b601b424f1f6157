package main

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestReadinessOfTheListeningServer asks /readyz of `seckill serve` over its listening socket. With the real Redis,
// MySQL and RocketMQ it is 200 and every dependency is "ok"; a second instance whose broker address is a closed
// port (it still sells: the NameServer routes its messages, and the topic exists) is 503 naming rocketmq alone,
// while /healthz stays 200.
func TestReadinessOfTheListeningServer(t *testing.T) {
	a := startApp(t, nil)
	r := a.send("GET", "/readyz", "", "")
	var status map[string]string
	if err := json.Unmarshal(r.Data, &status); r.Status != http.StatusOK || err != nil {
		t.Fatalf("readyz = %d %q %s, want 200", r.Status, r.Message, r.Data)
	}
	for _, dep := range []string{"redis", "mysql", "rocketmq"} {
		if status[dep] != "ok" {
			t.Fatalf("readyz %v, want %s ok", status, dep)
		}
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	b := startApp(t, map[string]string{"SECKILL_CONSUMERS": "false", "SECKILL_TOPIC": a.env["SECKILL_TOPIC"],
		"SECKILL_ROCKETMQ_BROKER": closed})
	r = b.send("GET", "/readyz", "", "")
	status = nil
	if err := json.Unmarshal(r.Data, &status); r.Status != http.StatusServiceUnavailable || err != nil ||
		!strings.Contains(r.Message, "rocketmq") || strings.Contains(r.Message, "redis") || strings.Contains(r.Message, "mysql") {
		t.Fatalf("readyz with the broker at %s = %d %q %s, want 503 naming rocketmq alone", closed, r.Status, r.Message, r.Data)
	}
	if !strings.Contains(status["rocketmq"], "refused") || status["redis"] != "ok" || status["mysql"] != "ok" {
		t.Fatalf("readyz %v, want rocketmq refused and the others ok", status)
	}
	if r := b.send("GET", "/healthz", "", ""); r.Status != http.StatusOK {
		t.Fatalf("healthz = %d, want 200", r.Status)
	}
}
