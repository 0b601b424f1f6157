package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seckill/seckill/buyerauth"
	"github.com/seckill/seckill/projections"
	"github.com/seckill/seckill/schema"
	"github.com/seckill/seckill/schema/schematest"
)

const (
	e2eToken  = "e2e-admin-token"
	e2eSecret = "e2e-buyer-jwt-secret-of-32-bytes-at-least"
)

// app is a real `seckill serve` (the production wiring of main) over the real services, with a private
// database, topic and consumer group, on a random port.
type app struct {
	t    *testing.T
	base string
	db   schematest.Database
	env  map[string]string
	stop func()

	mu     sync.Mutex
	owners map[string]int64 // order number -> the buyer who reserved it (through buy)
}

func startApp(t *testing.T, extra map[string]string) *app {
	t.Helper()
	d := schematest.MySQL(t)
	schematest.Namesrv(t)
	suffix := schematest.RandomSuffix()
	env := map[string]string{
		"SECKILL_HTTP_ADDR": "127.0.0.1:0", "SECKILL_MYSQL_DSN": d.DSN, "SECKILL_REDIS_ADDR": schematest.RedisAddr(),
		"SECKILL_ADMIN_TOKEN": e2eToken, "SECKILL_BUYER_JWT_SECRET": e2eSecret, "SECKILL_TOPIC": "e2e-" + suffix, "SECKILL_CONSUMER_GROUP": "e2e-" + suffix,
		"SECKILL_RATE_PER_USER": "0", "SECKILL_CONSUMER_THROTTLE": "0", "SECKILL_OUTBOX_MIN_AGE": "500ms",
		"SECKILL_RETRY_SCHEDULE": "200ms,200ms,200ms,200ms,200ms,200ms,200ms,200ms,200ms,200ms,200ms,200ms,200ms,200ms,200ms,200ms",
		"SECKILL_LOG_LEVEL":      "warn", "SECKILL_SHUTDOWN_DRAIN": "1ms",
	}
	for k, v := range extra {
		env[k] = v
	}
	a := &app{t: t, db: d, env: env, owners: map[string]int64{}}
	a.start()
	return a
}

func (a *app) start() {
	a.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, []string{"serve"}, envOf(a.env), pw, io.Discard)
		_ = pw.CloseWithError(fmt.Errorf("serve returned: %v", err))
		done <- err
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		cancel()
		a.t.Fatalf("seckill serve did not start: %v", err)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	_, addr, _ := strings.Cut(strings.TrimSpace(line), "http://")
	addr, _, _ = strings.Cut(addr, " ")
	a.base = "http://" + addr
	var once sync.Once
	a.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				a.t.Errorf("serve: %v", err)
			}
		})
	}
	a.t.Cleanup(a.stop)
}

type answer struct {
	Status  int
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

// call sends a request with the admin token.
func (a *app) call(method, path, body string) answer { return a.send(method, path, body, e2eToken) }

// as sends a request as the buyer, with a buyer token minted the way `seckill token` does.
func (a *app) as(user int64, method, path, body string) answer {
	tok, err := buyerauth.Mint([]byte(e2eSecret), user, time.Hour, time.Now())
	if err != nil {
		a.t.Fatal(err)
	}
	return a.send(method, path, body, tok)
}

// owner returns the buyer of an order bought through buy (1 for an order it does not know).
func (a *app) owner(orderNo string) int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	if u, ok := a.owners[orderNo]; ok {
		return u
	}
	return 1
}

// send sends a request with the bearer token, or none when token is empty.
func (a *app) send(method, path, body, token string) answer {
	req, _ := http.NewRequest(method, a.base+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Errorf("%s %s: %v", method, path, err)
		return answer{}
	}
	defer resp.Body.Close()
	var r answer
	_ = json.NewDecoder(resp.Body).Decode(&r)
	r.Status = resp.StatusCode
	return r
}

func (a *app) list(stock int64) int64 {
	a.t.Helper()
	id := schematest.ProductID(a.t, schematest.Redis(a.t))
	if r := a.call("POST", "/admin/products", fmt.Sprintf(`{"id":%d,"name":"iPhone 15 Pro","price":6999,"stock":%d}`, id, stock)); r.Status != http.StatusCreated {
		a.t.Fatalf("list: %d %s", r.Status, r.Message)
	}
	return id
}

// buy reserves one unit and returns the order number ("" unless 200).
func (a *app) buy(user, product int64) (string, int) {
	r := a.as(user, "POST", "/seckill/kill", fmt.Sprintf(`{"userId":%d,"productId":%d,"quantity":1}`, user, product))
	var k struct{ OrderNo string }
	_ = json.Unmarshal(r.Data, &k)
	if r.Status == http.StatusOK {
		a.mu.Lock()
		a.owners[k.OrderNo] = user
		a.mu.Unlock()
	}
	return k.OrderNo, r.Status
}

// buyers sells to n distinct buyers at once and returns the order numbers of the 200s.
func (a *app) buyers(n int, product int64, firstUser int64) []string {
	var mu sync.Mutex
	var orders []string
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if no, status := a.buy(firstUser+int64(i), product); status == http.StatusOK {
				mu.Lock()
				orders = append(orders, no)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return orders
}

func (a *app) count(q string, args ...any) int64 {
	var n int64
	if err := a.db.DB.QueryRow(q, args...).Scan(&n); err != nil {
		a.t.Fatalf("%s: %v", q, err)
	}
	return n
}

// waitFor polls cond every 100ms until it holds or the timeout passes.
func (a *app) waitFor(what string, timeout time.Duration, cond func() bool) {
	a.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			a.t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// drained waits until MySQL holds orders orders of the product and nothing is pending, then checks every
// invariant of CONTRACT.md, Redis included.
func (a *app) drained(product int64, orders int64, timeout time.Duration) projections.Report {
	a.t.Helper()
	rdb := schematest.Redis(a.t)
	a.waitFor(fmt.Sprintf("%d orders of product %d in MySQL", orders, product), timeout, func() bool {
		n, _, _ := schema.OutboxStats(context.Background(), rdb, product)
		return n == 0 && a.count(`SELECT COUNT(*) FROM tb_seckill_order WHERE product_id = ?`, product) == orders
	})
	return a.invariants(product)
}

func (a *app) invariants(product int64) projections.Report {
	a.t.Helper()
	rdb := schematest.Redis(a.t)
	state, err := schema.ReadSaleState(context.Background(), rdb, product)
	if err != nil {
		a.t.Fatal(err)
	}
	rep, err := projections.Audit(context.Background(), a.db.DB, product, state)
	if err != nil {
		a.t.Fatal(err)
	}
	if rep.Pending != 0 {
		a.t.Fatalf("%d events pending once drained:\n%s", rep.Pending, rep)
	}
	if !rep.OK() {
		a.t.Fatalf("invariants broken:\n%s", rep)
	}
	return rep
}

func services(t *testing.T, cmd string) {
	t.Helper()
	if out, err := exec.Command("bash", schematest.ServicesScript(), cmd).CombinedOutput(); err != nil {
		t.Fatalf("services.sh %s: %v\n%s", cmd, err, out)
	}
}
