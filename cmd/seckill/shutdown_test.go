package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/seckill/seckill/eventmsg"
	"github.com/seckill/seckill/events"
	"github.com/seckill/seckill/rocketmqpubsub"
	"github.com/seckill/seckill/schema"
	"github.com/seckill/seckill/schema/schematest"
)

// buildSeckill builds this package's binary into a temporary directory.
func buildSeckill(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "seckill")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestSIGTERMAnswersEveryRequest runs a real `seckill serve` process under concurrent buy load and sends it
// SIGTERM. /readyz turns 503 while buy requests are still answered; the load generator, like a load balancer,
// stops sending shortly after it sees that. Every request sent gets a complete HTTP answer (no EOF, no reset),
// the process exits 0, and every reservation acknowledged with 200 reaches RocketMQ (the outbox is flushed).
func TestSIGTERMAnswersEveryRequest(t *testing.T) {
	d := schematest.MySQL(t)
	namesrv := schematest.Namesrv(t)
	rdb := schematest.Redis(t)
	bin := buildSeckill(t)
	topic := schematest.Topic("shutdown")
	env := map[string]string{
		"SECKILL_HTTP_ADDR": "127.0.0.1:0", "SECKILL_MYSQL_DSN": d.DSN, "SECKILL_REDIS_ADDR": schematest.RedisAddr(),
		"SECKILL_ROCKETMQ_NAMESRV": namesrv, "SECKILL_ROCKETMQ_BROKER": schematest.Broker(),
		"SECKILL_ADMIN_TOKEN": e2eToken, "SECKILL_TOPIC": topic, "SECKILL_CONSUMER_GROUP": topic,
		"SECKILL_CONSUMERS": "false", "SECKILL_RATE_PER_USER": "0", "SECKILL_LOG_LEVEL": "warn",
		"SECKILL_SHUTDOWN_DRAIN": "4s", "SECKILL_BUYER_AUTH": "trusted",
	}
	cmd := exec.Command(bin, "serve")
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("serve did not start: %v\n%s", err, stderr.String())
	}
	go func() { exited <- cmd.Wait() }()
	_, addr, _ := strings.Cut(strings.TrimSpace(line), "http://")
	addr, _, _ = strings.Cut(addr, " ")
	a := &app{t: t, base: "http://" + addr, db: d}
	product := a.list(1_000_000)

	// The load: 16 buyers with keep-alive connections, each buying in a loop until told to stop.
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}, Timeout: 30 * time.Second}
	var stop atomic.Bool
	var mu sync.Mutex
	var acked []string
	codes := map[int]int{}
	var transportErrs []string
	var nextUser atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				u := nextUser.Add(1)
				resp, err := client.Post(a.base+"/seckill/kill", "application/json",
					strings.NewReader(fmt.Sprintf(`{"userId":%d,"productId":%d,"quantity":1}`, u, product)))
				var body struct {
					Code int
					Data struct{ OrderNo string }
				}
				if err == nil {
					err = json.NewDecoder(resp.Body).Decode(&body)
					_ = resp.Body.Close()
				}
				mu.Lock()
				if err != nil {
					transportErrs = append(transportErrs, err.Error())
				} else {
					codes[resp.StatusCode]++
					if resp.StatusCode == http.StatusOK {
						acked = append(acked, body.Data.OrderNo)
					}
				}
				mu.Unlock()
			}
		}()
	}
	served := func() int { mu.Lock(); defer mu.Unlock(); return codes[http.StatusOK] }
	a.waitFor("200 buys before the signal", 30*time.Second, func() bool { return served() >= 200 })

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	a.waitFor("/readyz answering 503", 10*time.Second, func() bool {
		resp, err := client.Get(a.base + "/readyz")
		if err != nil {
			t.Fatalf("/readyz during the drain: %v", err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable
	})
	atDrain := served()
	// A load balancer takes a moment to act on readiness; the process must keep answering meanwhile.
	a.waitFor("buys answered while draining", 10*time.Second, func() bool { return served() >= atDrain+50 })
	stop.Store(true)
	wg.Wait()

	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("serve exited with %v\n%s", err, stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("serve still running 60s after SIGTERM\n%s", stderr.String())
	}
	if len(transportErrs) > 0 {
		t.Fatalf("%d requests got no complete answer, e.g. %s", len(transportErrs), transportErrs[0])
	}
	t.Logf("answers: %v (%d acknowledged)", codes, len(acked))
	if len(codes) != 1 {
		t.Fatalf("answers %v, want only 200s", codes)
	}
	if n, _, err := schema.OutboxStats(context.Background(), rdb, product); err != nil || n != 0 {
		t.Fatalf("outbox holds %d entries after the shutdown (%v), want it flushed", n, err)
	}

	// Every acknowledged reservation is on the topic.
	sub, err := rocketmqpubsub.NewSubscriber(rocketmqpubsub.SubscriberConfig{NameServers: []string{namesrv},
		ConsumerGroup: "test-" + schematest.RandomSuffix()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	msgs, err := sub.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	missing := make(map[string]bool, len(acked))
	for _, no := range acked {
		missing[no] = true
	}
	for len(missing) > 0 {
		select {
		case m := <-msgs:
			if e, err := eventmsg.FromMessage(m); err == nil {
				if r, ok := e.(*events.SeckillReserved); ok {
					delete(missing, r.OrderNo)
				}
			}
			m.Ack()
		case <-ctx.Done():
			t.Fatalf("%d of %d acknowledged reservations never reached RocketMQ", len(missing), len(acked))
		}
	}
}
