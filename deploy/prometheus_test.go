package deploy_test

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/seckill/seckill/deploy/dashboards"
	"github.com/seckill/seckill/events"
	"github.com/seckill/seckill/schema/schematest"
)

const adminToken = "deploy-test-admin-token"

// rateWindow stands for Grafana's $__rate_interval when the test evaluates a panel: it spans the whole sale.
const rateWindow = "5m"

// TestDashboardAndAlertsOnARealPrometheus runs a split deployment built from this tree (`seckill serve` with the
// consumers off, and `seckill consume`) over the real services, with a Prometheus of Debian's package scraping
// both every 2s with alerts.yml loaded; the serve trusts the buyer the request names (SECKILL_BUYER_AUTH=trusted).
// It sells a product (a payment, a cancellation, payment timeouts), records a poisoned event (a payment MySQL
// refuses on every attempt, schematest.PoisonPayment: parked in the DLQ after its retries) and a reservation of a
// product MySQL never saw (rejected), then
// stops the deployment's Redis so that buyers get 503. Throughout it proves that:
//   - every metric a panel or an alert names is one the two processes export (their registries' Gather(), read
//     from /metrics), and every seckill_* family exported is on some panel;
//   - every panel query returns data, during the sale or, for the failure panels, once Redis is gone;
//   - every alert expression is valid PromQL whose every metric was scraped, with the labels it matches on;
//   - the alerts of the failures caused fire: the DLQ ones, the rejection one, and those of a Redis outage; those
//     of failures it does not cause stay silent.
func TestDashboardAndAlertsOnARealPrometheus(t *testing.T) {
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
		"SECKILL_BUYER_AUTH=trusted",
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
	poison := schematest.PoisonPayment(product)
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
	paid, cancelled := orders[0], orders[1]
	if st := api.status("POST", fmt.Sprintf("/seckill/orders/%s/pay?userId=%d", paid.orderNo, paid.user), ""); st != http.StatusOK {
		t.Fatalf("pay %s: %d", paid.orderNo, st)
	}
	if st := api.status("POST", fmt.Sprintf("/seckill/orders/%s/cancel?userId=%d", cancelled.orderNo, cancelled.user), ""); st != http.StatusOK {
		t.Fatalf("cancel %s: %d", cancelled.orderNo, st)
	}
	waitFor(t, "the sale settled in MySQL (1 paid, 9 cancelled), the poison parked, the stray reservation recorded without an order", 60*time.Second, func() bool {
		var paid, cancelled, parked, recorded, strayOrders int
		_ = d.DB.QueryRow(`SELECT COUNT(CASE WHEN status = 1 THEN 1 END), COUNT(CASE WHEN status = -1 THEN 1 END)
			FROM tb_seckill_order WHERE product_id = ?`, product).Scan(&paid, &cancelled)
		_ = d.DB.QueryRow(`SELECT COUNT(*) FROM tb_dlq WHERE event_id = ?`, poison.EventID).Scan(&parked)
		_ = d.DB.QueryRow(`SELECT COUNT(*) FROM tb_event WHERE event_id = ?`, stray.EventID).Scan(&recorded)
		_ = d.DB.QueryRow(`SELECT COUNT(*) FROM tb_seckill_order WHERE order_no = ?`, stray.OrderNo).Scan(&strayOrders)
		return paid == 1 && cancelled == 9 && parked == 1 && recorded == 1 && strayOrders == 0
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
	for _, quiet := range []string{"SeckillDown", "SeckillOutboxStuck", "SeckillRouterHandlerFailing", "SeckillUnknownEvents",
		"SeckillOutboxEntryParked", "SeckillConsumerHeartbeatFailing", "SeckillDLQUnknown"} {
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
