package deploy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/seckill/seckill/deploy/dashboards"
	"github.com/seckill/seckill/events"
	"github.com/seckill/seckill/rocketmqpubsub"
	"github.com/seckill/seckill/schema/schematest"
)

const adminToken = "deploy-test-admin-token"

// rateWindow stands for Grafana's $__rate_interval when the test evaluates a panel: it spans the whole sale.
const rateWindow = "5m"

// TestDashboardAndAlertsOnARealPrometheus runs a split deployment built from this tree (`seckill serve` with the
// consumers off, and `seckill consume`) over the real services, with a Prometheus of Debian's package scraping
// both every 2s with alerts.yml loaded. It sells a product (a payment, a cancellation, payment timeouts),
// records a poisoned event (parked in the DLQ) and a reservation of a product MySQL never saw (rejected), then
// stops the deployment's Redis so that buyers get 503. Throughout it proves that:
//   - every metric a panel or an alert names is one the two processes export (their registries' Gather(), read
//     from /metrics), and every seckill_* family exported is on some panel;
//   - every panel query returns data, during the sale or, for the failure panels, once Redis is gone;
//   - every alert expression is valid PromQL whose every metric was scraped, with the labels it matches on;
//   - the alerts of the failures caused fire: the DLQ ones, the rejection one, and those of a Redis outage.
func TestDashboardAndAlertsOnARealPrometheus(t *testing.T) {
	if testing.Short() && os.Getenv("SECKILL_REQUIRE_SERVICES") != "1" {
		t.Skip("needs the services, a Prometheus and a build of seckill")
	}
	tool(t, "prometheus")
	d := schematest.MySQL(t)
	namesrv := schematest.Namesrv(t)
	bin := buildSeckill(t)
	redisAddr, stopRedis := startRedis(t)

	suffix := schematest.RandomSuffix()
	env := []string{
		"SECKILL_MYSQL_DSN=" + d.DSN, "SECKILL_REDIS_ADDR=" + redisAddr, "SECKILL_ROCKETMQ_NAMESRV=" + namesrv,
		"SECKILL_ROCKETMQ_BROKER=" + schematest.Broker(), "SECKILL_ADMIN_TOKEN=" + adminToken,
		"SECKILL_TOPIC=deploy-" + suffix, "SECKILL_CONSUMER_GROUP=deploy-" + suffix,
		"SECKILL_RATE_PER_USER=0", "SECKILL_CONSUMER_THROTTLE=0", "SECKILL_OUTBOX_MIN_AGE=500ms",
		"SECKILL_PAYMENT_TIMEOUT=3s", "SECKILL_RETRY_SCHEDULE=200ms,200ms", "SECKILL_LOG_LEVEL=warn",
	}
	serveAddr, consumeAddr := freeAddr(t), freeAddr(t)
	start(t, bin, append(env, "SECKILL_HTTP_ADDR="+serveAddr, "SECKILL_CONSUMERS=false"), "serve")
	start(t, bin, append(env, "SECKILL_HTTP_ADDR="+consumeAddr), "consume")
	api := &client{t: t, base: "http://" + serveAddr}
	waitFor(t, "seckill serve and consume answer", 60*time.Second, func() bool {
		return httpOK("http://"+serveAddr+"/healthz") && httpOK("http://"+consumeAddr+"/healthz")
	})
	prom := startPrometheus(t, serveAddr, consumeAddr)

	// The failures first, so that the DLQ alert's minute runs during the sale.
	product := schematest.ProductID(t, schematest.Redis(t))
	neverListed := product + 1
	poison := &events.SeckillOrderPaid{EventID: uuid.NewString(), OrderNo: fmt.Sprintf("SK%d-%08d", product, 999),
		UserID: 99, ProductID: product, PaidAt: time.Now().UTC().Truncate(time.Millisecond)}
	stray := &events.SeckillReserved{EventID: uuid.NewString(), OrderNo: fmt.Sprintf("SK%d-%08d", neverListed, 1),
		UserID: 98, ProductID: neverListed, ProductName: "never listed", Price: 100, Quantity: 1, StockBefore: 1,
		ReservedAt: time.Now().UTC().Truncate(time.Millisecond)}
	publish(t, namesrv, "deploy-"+suffix, poison, stray)

	// The sale: 30 buyers for 10 units, one duplicate; the first order is paid, the second cancelled, the
	// others time out after 3s.
	if st := api.status("POST", "/admin/products", fmt.Sprintf(`{"id":%d,"name":"deploy test","price":6999,"stock":10}`, product)); st != http.StatusCreated {
		t.Fatalf("list product %d: %d", product, st)
	}
	orders := api.buyers(product, 30)
	if len(orders) != 10 {
		t.Fatalf("%d reservations for stock 10", len(orders))
	}
	if st := api.status("POST", "/seckill/kill", fmt.Sprintf(`{"userId":1,"productId":%d,"quantity":1}`, product)); st != http.StatusConflict && st != http.StatusGone {
		t.Fatalf("a second buy by user 1: %d, want 409 or 410", st)
	}
	if st := api.status("POST", "/seckill/orders/"+orders[0]+"/pay", ""); st != http.StatusOK {
		t.Fatalf("pay %s: %d", orders[0], st)
	}
	if st := api.status("POST", "/seckill/orders/"+orders[1]+"/cancel", ""); st != http.StatusOK {
		t.Fatalf("cancel %s: %d", orders[1], st)
	}
	waitFor(t, "the sale settled in MySQL (1 paid, 9 cancelled), the poison parked, the stray reservation rejected", 60*time.Second, func() bool {
		var paid, cancelled, parked, rejected int
		_ = d.DB.QueryRow(`SELECT COUNT(CASE WHEN status = 1 THEN 1 END), COUNT(CASE WHEN status = -1 THEN 1 END)
			FROM tb_seckill_order WHERE product_id = ?`, product).Scan(&paid, &cancelled)
		_ = d.DB.QueryRow(`SELECT COUNT(*) FROM tb_dlq WHERE event_id = ?`, poison.EventID).Scan(&parked)
		_ = d.DB.QueryRow(`SELECT COUNT(*) FROM tb_event WHERE event_id = ?`, stray.EventID).Scan(&rejected)
		return paid == 1 && cancelled == 9 && parked == 1 && rejected == 1
	})
	api.status("GET", "/readyz", "")
	api.status("GET", fmt.Sprintf("/seckill/result?userId=1&productId=%d", product), "")
	prom.waitFor("Prometheus scraped the settled sale", 30*time.Second, nil,
		`sum(seckill_orders_cancelled_total{reason="payment_timeout"}) >= 8`,
		`sum(seckill_events_recorded_total{outcome="rejected"}) >= 1`, `max(seckill_dlq_size) >= 1`,
		fmt.Sprintf(`seckill_stock{product_id="%d",source="mysql"} == 9`, product))

	exported := exportedFamilies(t, serveAddr, consumeAddr)
	checkMetricNames(t, exported)

	empty := map[string]bool{}
	for _, q := range dashboards.Queries() {
		if len(prom.query(q.Panel, panelExpr(q.Expr))) == 0 {
			empty[q.Expr] = true
		}
	}

	// Redis goes away: buyers get 503, /readyz says so.
	stopRedis()
	waitFor(t, "POST /seckill/kill answers 503 and /readyz 503", 20*time.Second, func() bool {
		return api.status("POST", "/seckill/kill", fmt.Sprintf(`{"userId":500,"productId":%d,"quantity":1}`, product)) == http.StatusServiceUnavailable &&
			api.status("GET", "/readyz", "") == http.StatusServiceUnavailable
	})
	failing := func() {
		api.status("POST", "/seckill/kill", fmt.Sprintf(`{"userId":501,"productId":%d,"quantity":1}`, product))
		api.status("GET", "/readyz", "")
	}
	prom.waitFor("Prometheus saw the 503s grow", 30*time.Second, failing,
		`sum(increase(seckill_http_requests_total{route="kill",code="503"}[1m])) > 0`,
		`sum(increase(seckill_http_requests_total{route="readyz",code="503"}[1m])) > 0`)
	for _, q := range dashboards.Queries() {
		if empty[q.Expr] && len(prom.query(q.Panel, panelExpr(q.Expr))) == 0 {
			t.Errorf("panel %q: %s returns no data, during the sale or with Redis gone", q.Panel, q.Expr)
		}
	}

	since := time.Now().Add(-10 * time.Minute)
	for _, r := range allRules(t) {
		prom.query("alert "+r.Alert, r.Expr) // valid PromQL against the live series
		for _, sel := range selectors(r.Expr) {
			name, _, _ := strings.Cut(sel, "{")
			labels := map[string]bool{}
			for _, s := range prom.series(name, since) {
				for l := range s {
					labels[l] = true
				}
			}
			if len(labels) == 0 {
				t.Errorf("alert %s: no series %s was scraped from the sale", r.Alert, name)
			}
			for _, m := range labelMatcher.FindAllStringSubmatch(sel, -1) {
				if !labels[m[1]] {
					t.Errorf("alert %s: %s matches on label %s, which no series %s has", r.Alert, sel, m[1], name)
				}
			}
		}
	}

	want := map[string][]string{
		"SeckillDLQNotEmpty": {"firing"}, "SeckillDLQGrowing": {"firing"}, "SeckillProjectionRejects": {"firing"},
		"SeckillKillUnavailable": {"pending", "firing"}, "SeckillRedisDown": {"pending", "firing"},
		"SeckillNotReady": {"pending", "firing"},
	}
	var last map[string]string
	ok := poll(90*time.Second, func() bool {
		failing()
		last = prom.alerts()
		for a, states := range want {
			if !slices.Contains(states, last[a]) {
				return false
			}
		}
		return true
	})
	if !ok {
		t.Errorf("alerts %v, want %v", last, want)
	}
	for _, quiet := range []string{"SeckillDown", "SeckillOutboxStuck", "SeckillRouterHandlerFailing", "SeckillUnknownEvents"} {
		if s, active := last[quiet]; active {
			t.Errorf("alert %s is %s; nothing in this sale should raise it", quiet, s)
		}
	}
}

// panelExpr is a panel's query as Grafana sends it, with $__rate_interval spanning the test.
func panelExpr(expr string) string { return strings.ReplaceAll(expr, "$__rate_interval", rateWindow) }

// exportedFamilies returns the metric families of the two processes' registries, as their /metrics serve them.
func exportedFamilies(t *testing.T, addrs ...string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, a := range addrs {
		resp, err := http.Get("http://" + a + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		p := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := p.TextToMetricFamilies(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			t.Fatalf("%s/metrics: %v", a, err)
		}
		for name := range fams {
			out[name] = true
		}
	}
	return out
}

var (
	quoted    = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	matchers  = regexp.MustCompile(`\{[^}]*\}`)
	grouping  = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	ranges    = regexp.MustCompile(`\[[^\]]*\]`)
	ident     = regexp.MustCompile(`\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(\s*\()?`)
	operators = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true}
)

// metricsOf returns the metric names of a PromQL expression: what remains an identifier once strings, label
// matchers, groupings and ranges are gone, and is neither a function call nor an operator.
func metricsOf(expr string) []string {
	s := quoted.ReplaceAllString(expr, `""`)
	s = matchers.ReplaceAllString(s, "")
	s = grouping.ReplaceAllString(s, "")
	s = ranges.ReplaceAllString(s, "")
	var out []string
	for _, m := range ident.FindAllStringSubmatch(s, -1) {
		if m[2] == "" && !operators[m[1]] {
			out = append(out, m[1])
		}
	}
	return out
}

// family strips a histogram series suffix when the base name is an exported family.
func family(name string, exported map[string]bool) string {
	for _, s := range []string{"_bucket", "_count", "_sum"} {
		if base, ok := strings.CutSuffix(name, s); ok && exported[base] {
			return base
		}
	}
	return name
}

func checkMetricNames(t *testing.T, exported map[string]bool) {
	t.Helper()
	exported["up"] = true // Prometheus's own, per target
	onPanel := map[string]bool{}
	for _, q := range dashboards.Queries() {
		if !exported[q.Metric] {
			t.Errorf("panel %q reads %s, which neither seckill serve nor seckill consume exports", q.Panel, q.Metric)
		}
		onPanel[q.Metric] = true
	}
	for _, r := range allRules(t) {
		for _, m := range metricsOf(r.Expr) {
			if !exported[family(m, exported)] {
				t.Errorf("alert %s reads %s, which neither seckill serve nor seckill consume exports", r.Alert, m)
			}
		}
	}
	var missing []string
	for name := range exported {
		if strings.HasPrefix(name, "seckill_") && !onPanel[name] {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("exported but on no panel of deploy/dashboards: %v", missing)
	}
}

type rule struct{ Alert, Expr string }

func allRules(t *testing.T) []rule {
	t.Helper()
	var out []rule
	for _, g := range loadAlerts(t).Groups {
		for _, r := range g.Rules {
			out = append(out, rule{r.Alert, r.Expr})
		}
	}
	return out
}

// labelMatcher finds the label names of a selector's matchers.
var labelMatcher = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*"`)

// selectorRef finds the selectors with label matchers of an expression.
var selectorRef = regexp.MustCompile(`\b[a-zA-Z_:][a-zA-Z0-9_:]*\{[^}]*\}`)

// selectors returns each metric selector of expr: name{matchers} as written, or a bare name.
func selectors(expr string) []string {
	return append(selectorRef.FindAllString(expr, -1), metricsOf(selectorRef.ReplaceAllString(expr, ""))...)
}

// --- processes

func buildSeckill(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "seckill")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/seckill")
	cmd.Dir = filepath.Join(dir(), "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/seckill: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start runs `seckill <command>` until the test ends (SIGTERM, then its exit is awaited); its log is shown when
// the test failed.
func start(t *testing.T, bin string, env []string, command string) {
	t.Helper()
	var log bytes.Buffer
	cmd := exec.Command(bin, command)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			lines := strings.Split(strings.TrimSpace(log.String()), "\n")
			t.Logf("seckill %s, last lines:\n%s", command, strings.Join(lines[max(0, len(lines)-15):], "\n"))
		}
	})
}

// startRedis runs a Redis of the deployment's own (redis-server of `make services`) on a free port, so the test
// can take it away; stop ends it (also at the end of the test).
func startRedis(t *testing.T) (addr string, stop func()) {
	t.Helper()
	addr = freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command("redis-server", "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no",
		"--dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		schematest.Unavailable(t, "redis-server", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			_ = cmd.Process.Kill()
			<-done
		})
	}
	t.Cleanup(stop)
	waitFor(t, "redis-server on "+addr, 10*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			_ = c.Close()
		}
		return err == nil
	})
	return addr, stop
}

func publish(t *testing.T, namesrv, topic string, evts ...events.Event) {
	t.Helper()
	pub, err := rocketmqpubsub.NewPublisher(rocketmqpubsub.PublisherConfig{NameServers: []string{namesrv}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	for _, e := range evts {
		msg, err := events.ToMessage(e)
		if err != nil {
			t.Fatal(err)
		}
		if err := pub.Publish(topic, msg); err != nil {
			t.Fatal(err)
		}
	}
}

func poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(200 * time.Millisecond)
	}
	return true
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	if !poll(timeout, cond) {
		t.Fatalf("timed out after %s waiting for %s", timeout, what)
	}
}

func httpOK(u string) bool {
	resp, err := http.Get(u)
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// --- the seckill API

type client struct {
	t    *testing.T
	base string
}

func (c *client) do(method, path, body string) (int, json.RawMessage) {
	req, _ := http.NewRequest(method, c.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Errorf("%s %s: %v", method, path, err)
		return 0, nil
	}
	defer resp.Body.Close()
	var env struct{ Data json.RawMessage }
	_ = json.NewDecoder(resp.Body).Decode(&env)
	return resp.StatusCode, env.Data
}

func (c *client) status(method, path, body string) int {
	st, _ := c.do(method, path, body)
	return st
}

// buyers has users 1..n buy one unit each, 8 at a time, and returns the order numbers in user order.
func (c *client) buyers(product int64, n int) []string {
	got := make([]string, n+1)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for u := 1; u <= n; u++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			st, data := c.do("POST", "/seckill/kill", fmt.Sprintf(`{"userId":%d,"productId":%d,"quantity":1}`, u, product))
			var k struct{ OrderNo string }
			if st == http.StatusOK && json.Unmarshal(data, &k) == nil {
				got[u] = k.OrderNo
			}
		}()
	}
	wg.Wait()
	var out []string
	for _, o := range got {
		if o != "" {
			out = append(out, o)
		}
	}
	return out
}

// --- Prometheus

type prometheus struct {
	t    *testing.T
	base string
}

// startPrometheus starts a Prometheus through scripts/observability.sh, on a free port with its data in the
// test's directory, scraping the targets every 2s, and waits until both are up.
func startPrometheus(t *testing.T, targets ...string) *prometheus {
	t.Helper()
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	env := append(os.Environ(), "SECKILL_PROM_PORT="+port, "SECKILL_PROM_DIR="+filepath.Join(t.TempDir(), "prometheus"))
	script := filepath.Join(dir(), "..", "scripts", "observability.sh")
	cmd := exec.Command("bash", append([]string{script, "up"}, targets...)...)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("observability.sh up: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		down := exec.Command("bash", script, "down")
		down.Env = env
		if out, err := down.CombinedOutput(); err != nil {
			t.Errorf("observability.sh down: %v\n%s", err, out)
		}
	})
	p := &prometheus{t: t, base: "http://" + addr}
	p.waitFor("Prometheus scraping both targets", 30*time.Second, nil, `count(up{job="seckill"} == 1) == 2`)
	return p
}

func (p *prometheus) get(path string, params url.Values, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.base+path+"?"+params.Encode(), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var env struct {
		Status, Error string
		Data          json.RawMessage
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("%s: %s", resp.Status, body)
	}
	if env.Status != "success" {
		return fmt.Errorf("%s", env.Error)
	}
	return json.Unmarshal(env.Data, out)
}

type sample struct {
	Metric map[string]string `json:"metric"`
	Value  []any             `json:"value"`
}

// query evaluates expr now; an expression Prometheus refuses fails the test, naming what it came from.
func (p *prometheus) query(what, expr string) []sample {
	p.t.Helper()
	var r struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := p.get("/api/v1/query", url.Values{"query": {expr}}, &r); err != nil {
		p.t.Errorf("%s: %s: %v", what, expr, err)
		return nil
	}
	if r.ResultType == "scalar" {
		return []sample{{}}
	}
	var out []sample
	if err := json.Unmarshal(r.Result, &out); err != nil {
		p.t.Errorf("%s: %s: %v", what, expr, err)
	}
	return out
}

// value is the result of expr when it has one, nil when it is empty or an error.
func (p *prometheus) value(expr string) []sample {
	var r struct {
		Result []sample `json:"result"`
	}
	if err := p.get("/api/v1/query", url.Values{"query": {expr}}, &r); err != nil || len(r.Result) == 0 {
		return nil
	}
	return r.Result
}

// waitFor polls until every one of exprs has a result, and names those that have none when it gives up; do,
// unless nil, runs before each look.
func (p *prometheus) waitFor(what string, timeout time.Duration, do func(), exprs ...string) {
	p.t.Helper()
	var missing []string
	ok := poll(timeout, func() bool {
		if do != nil {
			do()
		}
		missing = missing[:0]
		for _, e := range exprs {
			if p.value(e) == nil {
				missing = append(missing, e)
			}
		}
		return len(missing) == 0
	})
	if !ok {
		p.t.Fatalf("timed out after %s waiting for %s: no result for %q", timeout, what, missing)
	}
}

// series returns the series a selector matched since the given time.
func (p *prometheus) series(selector string, since time.Time) []map[string]string {
	p.t.Helper()
	var out []map[string]string
	params := url.Values{"match[]": {selector}, "start": {fmt.Sprint(since.Unix())}, "end": {fmt.Sprint(time.Now().Unix())}}
	if err := p.get("/api/v1/series", params, &out); err != nil {
		p.t.Errorf("series %s: %v", selector, err)
	}
	return out
}

// alerts returns the state (pending or firing) of each active alert.
func (p *prometheus) alerts() map[string]string {
	var r struct {
		Alerts []struct {
			Labels map[string]string `json:"labels"`
			State  string            `json:"state"`
		} `json:"alerts"`
	}
	out := map[string]string{}
	if err := p.get("/api/v1/alerts", nil, &r); err != nil {
		return out
	}
	for _, a := range r.Alerts {
		if out[a.Labels["alertname"]] != "firing" {
			out[a.Labels["alertname"]] = a.State
		}
	}
	return out
}
