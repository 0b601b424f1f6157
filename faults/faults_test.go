package faults

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/schema"
	"github.com/seckill/seckill/schema/schematest"
)

const adminToken = "faults-admin-token"

// suite is the stack and the binary every scenario shares; the first test that needs it brings it up.
var suite struct {
	once  sync.Once
	err   error
	stack Stack
	bin   string
	up    bool
}

func TestMain(m *testing.M) {
	code := m.Run()
	if suite.up && os.Getenv("SECKILL_FAULTS_KEEP") != "1" {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		if err := suite.stack.Down(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "faults: stopping the stack:", err)
		}
		cancel()
	}
	os.Exit(code)
}

// stack returns the suite's stack, started, and the seckill binary built from this tree. The suite starts its
// own services, so it runs only when asked: SECKILL_REQUIRE_SERVICES=1 (make test, make test-faults) or
// SECKILL_FAULTS=1; otherwise it skips.
func stack(t *testing.T) (Stack, string) {
	t.Helper()
	if os.Getenv("SECKILL_REQUIRE_SERVICES") != "1" && os.Getenv("SECKILL_FAULTS") != "1" {
		t.Skip("the fault suite starts its own Redis, MariaDB and RocketMQ: set SECKILL_FAULTS=1 (make test-faults)")
	}
	suite.once.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Dir(filepath.Dir(file))
		suite.stack = DefaultStack(root)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		suite.bin = filepath.Join(suite.stack.RunDir, "bin", "seckill")
		build := exec.CommandContext(ctx, "go", "build", "-o", suite.bin, "./cmd/seckill")
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			suite.err = fmt.Errorf("build seckill: %v\n%s", err, out)
			return
		}
		suite.up = true
		suite.err = suite.stack.Up(ctx)
	})
	if suite.err != nil {
		t.Fatalf("fault stack: %v", suite.err)
	}
	return suite.stack, suite.bin
}

// sale is one scenario: a fresh database, topic, consumer group and product on the suite's stack, served by a
// real `seckill serve` (and, when split, a separate `seckill consume`).
type sale struct {
	t       *testing.T
	name    string
	stack   Stack
	db      *sql.DB
	dbName  string
	rdb     *redis.Client
	base    string
	product int64
	stock   int64
	serve   *Proc
	consume *Proc
	load    *Load
	loadEnd chan time.Time
}

// shortTimings make the suite finish in minutes while keeping what matters of production: the retry schedule
// starts as RocketMQ's does (10 s, 30 s, 1 min: a retried event arrives that much out of order, which is what the
// projections must survive) and outlasts a 10-second outage; the payment timeout is short, so it fires during
// the sale and returns units that later buyers take.
var shortTimings = map[string]string{
	"SECKILL_PAYMENT_TIMEOUT": "8s",
	"SECKILL_RETRY_SCHEDULE":  "10s,30s,1m,1m,1m,1m,1m,1m,1m,1m,1m,1m,1m,1m,1m,1m",
	"SECKILL_OUTBOX_MIN_AGE":  "1s",
}

// newSale prepares a scenario and starts `seckill serve`; split moves the consumers to a separate
// `seckill consume` (s.consume), which the scenario starts itself. env overrides the defaults.
func newSale(t *testing.T, name string, stock int64, split bool, env map[string]string) *sale {
	t.Helper()
	st, bin := stack(t)
	ctx := context.Background()
	s := &sale{t: t, name: name, stack: st, stock: stock, loadEnd: make(chan time.Time, 1)}

	admin, err := sql.Open("mysql", st.DSN("seckill"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	s.dbName = "faults_" + strings.ReplaceAll(name, "-", "_") + "_" + schematest.RandomSuffix()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+s.dbName); err != nil {
		t.Fatalf("create database: %v", err)
	}
	dsn := st.DSN(s.dbName)
	if s.db, err = sql.Open("mysql", dsn); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.db.Close() })
	if err := schema.Migrate(ctx, s.db); err != nil {
		t.Fatalf("migrate %s: %v", s.dbName, err)
	}
	s.rdb = redis.NewClient(&redis.Options{Addr: st.RedisAddr()})
	t.Cleanup(func() { _ = s.rdb.Close() })
	s.product = 1_000_000 + time.Now().UnixNano()%1_000_000_000

	port := freePort(t)
	s.base = "http://127.0.0.1:" + strconv.Itoa(port)
	suffix := schematest.RandomSuffix()
	vars := map[string]string{
		"SECKILL_HTTP_ADDR": "127.0.0.1:" + strconv.Itoa(port), "SECKILL_REDIS_ADDR": st.RedisAddr(),
		"SECKILL_MYSQL_DSN": dsn, "SECKILL_ROCKETMQ_NAMESRV": st.NamesrvAddr(), "SECKILL_ROCKETMQ_BROKER": st.BrokerAddr(),
		"SECKILL_ADMIN_TOKEN": adminToken, "SECKILL_BUYER_AUTH": "trusted",
		"SECKILL_TOPIC": "faults-" + suffix, "SECKILL_CONSUMER_GROUP": "faults-" + suffix,
		"SECKILL_RATE_PER_USER": "0", "SECKILL_SHUTDOWN_TIMEOUT": "10s", "SECKILL_LOG_LEVEL": "info",
	}
	for k, v := range shortTimings {
		vars[k] = v
	}
	if split {
		vars["SECKILL_CONSUMERS"] = "false"
	}
	for k, v := range env {
		vars[k] = v
	}
	var environ []string
	for k, v := range vars {
		environ = append(environ, k+"="+v)
	}
	logs := filepath.Join(st.RunDir, "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	s.serve = &Proc{Bin: bin, Args: []string{"serve"}, Env: environ, Log: filepath.Join(logs, s.dbName+"-serve.log")}
	t.Cleanup(s.serve.Stop)
	if split {
		consumeEnv := append(append([]string(nil), environ...), "SECKILL_CONSUMERS=true",
			"SECKILL_HTTP_ADDR=127.0.0.1:"+strconv.Itoa(freePort(t)))
		s.consume = &Proc{Bin: bin, Args: []string{"consume"}, Env: consumeEnv, Log: filepath.Join(logs, s.dbName+"-consume.log")}
		t.Cleanup(s.consume.Stop)
	}
	s.startServe()
	s.list()
	t.Logf("%s: database %s, product %d, logs %s", name, s.dbName, s.product, s.serve.Log)
	return s
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func (s *sale) startServe() {
	s.t.Helper()
	if err := s.serve.Start(); err != nil {
		s.t.Fatal(err)
	}
	if err := s.serve.WaitReady(context.Background(), s.base+"/readyz", 90*time.Second); err != nil {
		s.t.Fatal(err)
	}
}

func (s *sale) list() {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.base+"/admin/products",
		strings.NewReader(fmt.Sprintf(`{"id":%d,"name":"fault %s","price":6999,"stock":%d}`, s.product, s.name, s.stock)))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("list product: %v", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		s.t.Fatalf("list product %d: %d", s.product, resp.StatusCode)
	}
}

// run starts the load of buyers (about 1.3 per unit unless given) in the background.
func (s *sale) run(buyers int, rate float64) {
	s.load = NewLoad(LoadConfig{Base: s.base, ProductID: s.product, Buyers: buyers, FirstUser: 10_000_000,
		Rate: rate, Conns: 32, CancelShare: 0.02, PayShare: 0.02, RetryFor: 30 * time.Second})
	go func() {
		s.load.Run(context.Background())
		s.loadEnd <- time.Now()
	}()
}

// waitStarted returns once n buyers have sent their first request (the fault then strikes mid-sale).
func (s *sale) waitStarted(n int) {
	s.t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for s.load.Started() < n {
		if time.Now().After(deadline) {
			s.t.Fatalf("only %d buyers started in 5 minutes", s.load.Started())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitLoad returns once every buyer is done.
func (s *sale) waitLoad() time.Time {
	end := <-s.loadEnd
	s.loadEnd <- end
	return end
}

// ordersInMySQL counts the product's orders MySQL holds.
func (s *sale) ordersInMySQL() int {
	var n int
	_ = s.db.QueryRow(`SELECT COUNT(*) FROM tb_seckill_order WHERE product_id = ?`, s.product).Scan(&n)
	return n
}

// check waits for the load to end and the pipeline to drain, checks every order, reports the figures and
// fails the test on any violation. A scenario that passes leaves nothing behind (database, Redis keys, logs); one
// that fails keeps them for the post-mortem.
func (s *sale) check(drain time.Duration) Figures {
	s.t.Helper()
	s.waitLoad()
	c := &Check{Load: s.load, Redis: s.rdb, DB: s.db, Listed: s.stock}
	f, err := c.Run(context.Background(), s.name, drain)
	if err != nil {
		s.t.Fatalf("check: %v", err)
	}
	report(s.t, s.stack, f)
	if !f.OK() {
		s.t.Errorf("%s broke invariants (figures above; database %s, product %d, logs in %s)", s.name, s.dbName,
			s.product, filepath.Dir(s.serve.Log))
		return f
	}
	_, _ = s.db.Exec("DROP DATABASE " + s.dbName)
	_ = os.Remove(s.serve.Log)
	if s.consume != nil {
		_ = os.Remove(s.consume.Log)
	}
	k := schema.KeysFor(s.product)
	s.rdb.Del(context.Background(), k.Stock, k.Info, k.Buyers, k.Orders, k.Seq, k.Outbox)
	s.rdb.SRem(context.Background(), schema.ProductsKey, s.product)
	return f
}

// report logs the figures and appends them to the stack's figures.log, so that they survive a quiet go test.
func report(t *testing.T, st Stack, f Figures) {
	t.Log(f)
	line := fmt.Sprintf("%s %s\n", time.Now().UTC().Format(time.RFC3339), f)
	if fl, err := os.OpenFile(filepath.Join(st.RunDir, "figures.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err == nil {
		_, _ = fl.WriteString(line)
		_ = fl.Close()
	}
}

// midSale runs the shape of most scenarios: a sale that stays sold out while payment timeouts (8 s) and buyer
// cancels keep returning units that the next buyers take at once — 20,000 buyers at 1,000/s for 2,000 units, or
// 4,000 at 400/s for 400 in the short form (go test -short, inside make test) — and fault strikes when a third
// of the buyers have started. Reused units are where arrival order matters to the projections. Such a sale
// sends about 400 events/s; the projection throttle is 500/s, in the ratio of production's 1,000/s to a sale of
// about 1,000 reservations/s, so that a fault's backlog drains as slowly as it would there.
func midSale(t *testing.T, name string, fault func(s *sale)) {
	stock, buyers, rate := 2000, 20_000, 1000.0
	if testing.Short() {
		stock, buyers, rate = 400, 4000, 400
	}
	s := newSale(t, name, int64(stock), false, map[string]string{"SECKILL_CONSUMER_THROTTLE": "500"})
	s.run(buyers, rate)
	s.waitStarted(buyers / 3)
	fault(s)
	s.check(3 * time.Minute)
}

// TestKillServe: kill -9 `seckill serve` mid-sale and start it again; buyers retry through the gap; the outbox
// relay of the new process sends what the old one had not.
func TestKillServe(t *testing.T) {
	midSale(t, "kill-serve", func(s *sale) {
		if err := s.serve.Kill(); err != nil {
			t.Fatal(err)
		}
		s.startServe()
	})
}

// TestSIGTERMServe: SIGTERM `seckill serve` mid-sale (graceful drain), then start it again.
func TestSIGTERMServe(t *testing.T) {
	midSale(t, "sigterm-serve", func(s *sale) {
		took, err := s.serve.Terminate(30 * time.Second)
		if err != nil {
			t.Error(err)
		}
		t.Logf("serve stopped %s after SIGTERM", took.Round(time.Millisecond))
		s.startServe()
	})
}

// TestKillBroker: kill -9 the RocketMQ broker mid-sale, keep it down 10 s, start it again.
func TestKillBroker(t *testing.T) {
	midSale(t, "kill-broker", func(s *sale) { s.outage(Broker, 10*time.Second) })
}

// TestKillRedis: kill -9 Redis mid-sale and start it again at once on its AOF.
func TestKillRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("full suite only (make test-faults)")
	}
	midSale(t, "kill-redis", func(s *sale) { s.outage(Redis, 0) })
}

// TestKillMySQL: kill -9 MariaDB mid-sale, keep it down 10 s, start it again (crash recovery).
func TestKillMySQL(t *testing.T) {
	if testing.Short() {
		t.Skip("full suite only (make test-faults)")
	}
	midSale(t, "kill-mysql", func(s *sale) { s.outage(MySQL, 10*time.Second) })
}

// outage kills svc, keeps it down for d (the fault's length, not a synchronisation) and starts it again.
func (s *sale) outage(svc Service, d time.Duration) {
	s.t.Helper()
	ctx := context.Background()
	if err := s.stack.Kill(ctx, svc); err != nil {
		s.t.Fatal(err)
	}
	start := time.Now()
	time.Sleep(d)
	if err := s.stack.Start(ctx, svc); err != nil {
		s.t.Fatal(err)
	}
	s.t.Logf("%s down for %s", svc, time.Since(start).Round(100*time.Millisecond))
}

// TestKillConsume: the consumers run in a separate `seckill consume`; a sale of 20,000 units to 30,000 buyers runs
// with it stopped, so that over 20,000 events wait in the topic; it starts, is killed -9 a third through the
// backlog and starts again at once.
func TestKillConsume(t *testing.T) {
	if testing.Short() {
		t.Skip("full suite only (make test-faults)")
	}
	const stock = 20_000
	s := newSale(t, "kill-consume", stock, true, nil)
	s.run(stock*3/2, 0)
	s.waitLoad()
	if err := s.consume.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for s.ordersInMySQL() < stock/3 {
		if err := s.consume.Exited(); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("consume projected only %d orders in 3 minutes", s.ordersInMySQL())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := s.consume.Kill(); err != nil {
		t.Fatal(err)
	}
	t.Logf("consume killed with %d orders in MySQL", s.ordersInMySQL())
	if err := s.consume.Start(); err != nil {
		t.Fatal(err)
	}
	s.check(3 * time.Minute)
}

// TestBacklog: no fault, but the projection throttle (5 events/s) keeps MySQL more than two minutes behind a
// 30-second sold-out sale: payment timeouts, scheduled as reservations are projected, and buyer cancels keep
// returning units that the next buyers take, so cancellations and the reservations that reuse their units
// interleave throughout the backlog.
func TestBacklog(t *testing.T) {
	if testing.Short() {
		t.Skip("full suite only (make test-faults)")
	}
	const stock = 300
	s := newSale(t, "backlog", stock, false, map[string]string{"SECKILL_CONSUMER_THROTTLE": "5"})
	s.run(1500, 50)
	f := s.check(4 * time.Minute)
	if f.Drained && f.ToConsistent < 2*time.Minute {
		t.Errorf("the projection was only %s behind the end of the sale; the scenario wants at least 2 minutes", f.ToConsistent)
	}
}
