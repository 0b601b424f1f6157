package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/events"
	"github.com/seckill/seckill/httpapi"
	"github.com/seckill/seckill/schema"
	"github.com/seckill/seckill/schema/schematest"
)

// TestBadInputIsRejectedAndReservesNothing covers every bad input of CONTRACT.md over the real router, sent by
// buyer 1 with a valid token: each is a 400 naming the field, and the stock does not move.
func TestBadInputIsRejectedAndReservesNothing(t *testing.T) {
	s := newStack(t)
	id := s.list(10)
	big := fmt.Sprintf(`{"userId":1,"productId":%d,"quantity":1,"pad":"%s"}`, id, strings.Repeat("x", 5000))
	cases := map[string]struct{ body, field string }{
		"not json":            {`{"userId":`, "body"},
		"not an object":       {`[1,2,3]`, "body"},
		"a string":            {`"hello"`, "body"},
		"null":                {`null`, "body"},
		"empty":               {``, "body"},
		"trailing data":       {fmt.Sprintf(`{"userId":1,"productId":%d,"quantity":1} {}`, id), "body"},
		"over 4 KiB":          {big, "body"},
		"unknown field":       {fmt.Sprintf(`{"userId":1,"productId":%d,"quantity":1,"coupon":"FREE"}`, id), "coupon"},
		"missing productId":   {`{"userId":1,"quantity":1}`, "productId"},
		"missing quantity":    {fmt.Sprintf(`{"userId":1,"productId":%d}`, id), "quantity"},
		"zero userId":         {fmt.Sprintf(`{"userId":0,"productId":%d,"quantity":1}`, id), "userId"},
		"negative userId":     {fmt.Sprintf(`{"userId":-5,"productId":%d,"quantity":1}`, id), "userId"},
		"fractional userId":   {fmt.Sprintf(`{"userId":1.5,"productId":%d,"quantity":1}`, id), "userId"},
		"exponent userId":     {fmt.Sprintf(`{"userId":1e3,"productId":%d,"quantity":1}`, id), "userId"},
		"string userId":       {fmt.Sprintf(`{"userId":"1","productId":%d,"quantity":1}`, id), "userId"},
		"null productId":      {`{"userId":1,"productId":null,"quantity":1}`, "productId"},
		"huge productId":      {`{"userId":1,"productId":99999999999999999999,"quantity":1}`, "productId"},
		"zero quantity":       {fmt.Sprintf(`{"userId":1,"productId":%d,"quantity":0}`, id), "quantity"},
		"quantity over limit": {fmt.Sprintf(`{"userId":1,"productId":%d,"quantity":2}`, id), "quantity"},
		"boolean quantity":    {fmt.Sprintf(`{"userId":1,"productId":%d,"quantity":true}`, id), "quantity"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			r := s.as(1, "POST", "/seckill/kill", c.body)
			if r.Status != http.StatusBadRequest || !strings.HasPrefix(r.Message, c.field) {
				t.Fatalf("answer %d %q, want 400 naming %q", r.Status, r.Message, c.field)
			}
		})
	}
	if got := s.redisStock(id); got != 10 {
		t.Fatalf("stock %d after bad requests, want 10", got)
	}
	if n, _, _ := schema.OutboxStats(context.Background(), s.rdb, id); n != 0 {
		t.Fatalf("bad requests left %d outbox entries", n)
	}
}

func TestAdminListingBadInputAndAuth(t *testing.T) {
	s := newStack(t)
	if r := s.do("POST", "/admin/products", `{"id":1,"name":"x","price":1,"stock":1}`); r.Status != http.StatusUnauthorized {
		t.Fatalf("no token: %d", r.Status)
	}
	if r := s.do("POST", "/admin/products", `{}`, "Authorization", "Bearer wrong"); r.Status != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d", r.Status)
	}
	cases := map[string]struct{ body, field string }{
		"unknown field":    {`{"id":5,"name":"x","price":1,"stock":1,"color":"red"}`, "color"},
		"missing name":     {`{"id":5,"price":1,"stock":1}`, "name"},
		"blank name":       {`{"id":5,"name":"  ","price":1,"stock":1}`, "name"},
		"zero price":       {`{"id":5,"name":"x","price":0,"stock":1}`, "price"},
		"three decimals":   {`{"id":5,"name":"x","price":1.001,"stock":1}`, "price"},
		"negative stock":   {`{"id":5,"name":"x","price":1,"stock":-1}`, "stock"},
		"bad start":        {`{"id":5,"name":"x","price":1,"stock":1,"startTime":"tomorrow"}`, "startTime"},
		"end before start": {`{"id":5,"name":"x","price":1,"stock":1,"startTime":"2026-11-23T20:00:00Z","endTime":"2026-11-23T19:00:00Z"}`, "endTime"},
		"zero id":          {`{"id":0,"name":"x","price":1,"stock":1}`, "id"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			r := s.admin("POST", "/admin/products", c.body)
			if r.Status != http.StatusBadRequest || !strings.HasPrefix(r.Message, c.field) {
				t.Fatalf("answer %d %q, want 400 naming %q", r.Status, r.Message, c.field)
			}
		})
	}
}

func TestListingNeverResetsLiveStock(t *testing.T) {
	s := newStack(t)
	id := s.list(5)
	if r := s.kill(1, id); r.Status != http.StatusOK {
		t.Fatalf("kill: %d %s", r.Status, r.Message)
	}
	r := s.admin("POST", "/admin/products", fmt.Sprintf(`{"id":%d,"name":"again","price":1,"stock":100}`, id))
	if r.Status != http.StatusConflict {
		t.Fatalf("relisting: %d %s, want 409", r.Status, r.Message)
	}
	if got := s.redisStock(id); got != 4 {
		t.Fatalf("stock %d after relisting, want 4", got)
	}
	var stock int64
	if err := s.db.DB.QueryRow(`SELECT stock FROM tb_seckill_product WHERE id = ?`, id).Scan(&stock); err != nil || stock != 5 {
		t.Fatalf("mysql stock %d (%v), want the listed 5 until the reservation is projected", stock, err)
	}
	var n int
	_ = s.db.DB.QueryRow(`SELECT COUNT(*) FROM tb_event WHERE event_type = ? AND aggregate_id = ?`, events.TypeProductListed, fmt.Sprint(id)).Scan(&n)
	if n != 1 {
		t.Fatalf("%d ProductListed events, want 1", n)
	}
}

func TestBuyerAnswers(t *testing.T) {
	s := newStack(t)
	id := s.list(1)
	r := s.kill(1002, id)
	if r.Status != http.StatusOK {
		t.Fatalf("kill: %d %s", r.Status, r.Message)
	}
	var k struct {
		OrderNo                                     string
		UserID, ProductID, Quantity, RemainingStock int64
	}
	_ = json.Unmarshal(r.Data, &k)
	if !strings.HasPrefix(k.OrderNo, "SK") || k.UserID != 1002 || k.ProductID != id || k.Quantity != 1 || k.RemainingStock != 0 {
		t.Fatalf("kill data = %s", r.Data)
	}
	if r := s.kill(1002, id); r.Status != http.StatusConflict {
		t.Fatalf("same buyer again: %d, want 409", r.Status)
	}
	if r := s.kill(1003, id); r.Status != http.StatusGone {
		t.Fatalf("sold out: %d, want 410", r.Status)
	}
	if r := s.kill(1004, id); r.Status != http.StatusGone {
		t.Fatalf("sold out (fast path): %d, want 410", r.Status)
	}
	if r := s.kill(1003, id+1_000_000_000); r.Status != http.StatusNotFound {
		t.Fatalf("unknown product: %d, want 404", r.Status)
	}
	res := s.as(1002, "GET", fmt.Sprintf("/seckill/result?productId=%d", id), "")
	if res.Status != http.StatusOK || !strings.Contains(string(res.Data), `"PENDING"`) || !strings.Contains(string(res.Data), k.OrderNo) {
		t.Fatalf("result = %d %s, want PENDING with the order", res.Status, res.Data)
	}
	if res := s.as(7, "GET", fmt.Sprintf("/seckill/result?productId=%d", id), ""); !strings.Contains(string(res.Data), `"NONE"`) {
		t.Fatalf("result of a stranger = %s", res.Data)
	}
	if res := s.as(7, "GET", "/seckill/result?userId=x&productId=1", ""); res.Status != http.StatusBadRequest {
		t.Fatalf("bad result query: %d", res.Status)
	}
	p := s.do("GET", fmt.Sprintf("/seckill/products/%d", id), "")
	if p.Status != http.StatusOK || !strings.Contains(string(p.Data), `"stock":0`) || !strings.Contains(string(p.Data), `"price":6999.00`) {
		t.Fatalf("product = %d %s", p.Status, p.Data)
	}
	if p := s.as(1002, "GET", "/seckill/orders/SK1-nope", ""); p.Status != http.StatusNotFound {
		t.Fatalf("unknown order: %d", p.Status)
	}
}

func TestSaleWindow(t *testing.T) {
	s := newStack(t)
	for name, c := range map[string]struct{ start, end time.Time }{
		"not started": {time.Now().Add(time.Hour), time.Now().Add(2 * time.Hour)},
		"ended":       {time.Now().Add(-2 * time.Hour), time.Now().Add(-time.Hour)},
	} {
		t.Run(name, func(t *testing.T) {
			id := schematest.ProductID(t, s.rdb)
			body := fmt.Sprintf(`{"id":%d,"name":"x","price":1,"stock":3,"startTime":%q,"endTime":%q}`, id,
				c.start.Format(time.RFC3339), c.end.Format(time.RFC3339))
			if r := s.admin("POST", "/admin/products", body); r.Status != http.StatusCreated {
				t.Fatalf("list: %d %s", r.Status, r.Message)
			}
			if r := s.kill(1, id); r.Status != http.StatusForbidden {
				t.Fatalf("kill %s: %d, want 403", name, r.Status)
			}
			if s.redisStock(id) != 3 {
				t.Fatal("stock moved")
			}
		})
	}
}

// TestOneBuyerTwoHundredRequestsAtOnce: with no rate limit, all 200 requests reach the reserve script: exactly
// one 200, the other 199 are 409.
func TestOneBuyerTwoHundredRequestsAtOnce(t *testing.T) {
	s := newStack(t, func(c *stackConfig) { c.sale.RatePerUser = 0 })
	id := s.list(100)
	codes := fire(200, func(int) reply { return s.kill(4242, id) })
	if codes[http.StatusOK] != 1 || codes[http.StatusConflict] != 199 {
		t.Fatalf("answers %v, want one 200 and 199 409", codes)
	}
	if got := s.redisStock(id); got != 99 {
		t.Fatalf("stock %d, want 99", got)
	}
}

// TestFiveHundredUnitsTwoThousandBuyers: exactly 500 × 200, stock 0 and never negative, every 200's event in
// RocketMQ once, whether the fast path or the relay (running, as in `seckill serve`) published it.
func TestFiveHundredUnitsTwoThousandBuyers(t *testing.T) {
	s := newStack(t)
	ctx, cancel := context.WithCancel(context.Background())
	relayed := make(chan error, 1)
	go func() { relayed <- s.outbox.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-relayed; err != nil {
			t.Errorf("relay: %v", err)
		}
	})
	id := s.list(500)
	var mu = make(chan struct{}, 1)
	orders := map[string]bool{}
	codes := fire(2000, func(i int) reply {
		r := s.kill(int64(100000+i), id)
		if r.Status == http.StatusOK {
			var k struct{ OrderNo string }
			_ = json.Unmarshal(r.Data, &k)
			mu <- struct{}{}
			orders[k.OrderNo] = true
			<-mu
		}
		return r
	})
	if codes[http.StatusOK] != 500 || codes[http.StatusGone] != 1500 || len(orders) != 500 {
		t.Fatalf("answers %v with %d distinct orders, want 500 × 200 and 1500 × 410", codes, len(orders))
	}
	if got := s.redisStock(id); got != 0 {
		t.Fatalf("stock %d, want 0", got)
	}
	// Every event is published once the outbox is empty: the fast path and the relay remove only what the
	// broker stored.
	deadline := time.Now().Add(60 * time.Second)
	for {
		n, _, err := schema.OutboxStats(context.Background(), s.rdb, id)
		if err == nil && n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the outbox still holds %d entries (%v) after 60s of relaying", n, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	got := s.received(500, 60*time.Second)
	if len(got) != 500 {
		t.Fatalf("%d distinct events reached RocketMQ, want 500", len(got))
	}
	// The fast path publishes each event once. A second copy comes only from the relay, which republishes an
	// entry still in the outbox past MinAge (200 ms here) while the fast path's publish of it is in flight, as on
	// a loaded machine: at-least-once, with every extra copy accounted for by a relayed one.
	extra := 0
	for _, n := range got {
		extra += n - 1
	}
	republished := s.counter("seckill_outbox_relayed_total")
	if float64(extra) > republished {
		t.Errorf("%d extra copies reached RocketMQ but the relay republished only %v events", extra, republished)
	}
	t.Logf("500 events, %d extra copies, %v republished by the relay", extra, republished)
}

// TestReadinessNamesTheFailingDependency is the handler's unit test, with stub pings and no socket: a failing
// check is named, a passing one is not. The real checks over a listening server are
// cmd/seckill's TestReadinessOfTheListeningServer.
func TestReadinessNamesTheFailingDependency(t *testing.T) {
	s := newStack(t, func(c *stackConfig) {
		c.apiDeps.Checks = []httpapi.Check{
			{Name: "redis", Ping: func(context.Context) error { return nil }},
			{Name: "mysql", Ping: func(context.Context) error { return fmt.Errorf("connection refused") }},
		}
	})
	r := s.do("GET", "/readyz", "")
	if r.Status != http.StatusServiceUnavailable || !strings.Contains(r.Message, "mysql") || strings.Contains(r.Message, "redis") {
		t.Fatalf("readyz = %d %q, want 503 naming mysql only", r.Status, r.Message)
	}
	if r := s.do("GET", "/healthz", ""); r.Status != http.StatusOK {
		t.Fatalf("healthz = %d", r.Status)
	}
	if r := s.do("GET", "/no/such/thing", ""); r.Status != http.StatusNotFound {
		t.Fatalf("unknown path = %d", r.Status)
	}
}

// TestRedisDownIs503 points the server at a Redis that does not answer: the buyer gets 503 and nothing is
// reserved (the real Redis keeps its stock).
func TestRedisDownIs503(t *testing.T) {
	s := newStack(t)
	id := s.list(5)
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { _ = down.Close() })
	s2 := newStack(t, func(c *stackConfig) { c.deps.Redis = down })
	r := s2.kill(1, id)
	if r.Status != http.StatusServiceUnavailable || !strings.Contains(r.Message, "nothing was reserved") {
		t.Fatalf("kill with redis down = %d %q, want 503", r.Status, r.Message)
	}
	if got := s.redisStock(id); got != 5 {
		t.Fatalf("stock %d, want 5", got)
	}
}

// TestSoldOutFastPathNoticesStockComingBack: a product seen sold out is answered 410 without Redis; a
// cancellation through this instance clears that at once, and one through another instance (or the payment
// timeout) is noticed once the fast path's TTL has passed (the server's clock is the test's, and the TTL an hour).
func TestSoldOutFastPathNoticesStockComingBack(t *testing.T) {
	var ahead atomic.Int64 // how far the server's clock is ahead of the real one, in nanoseconds
	s := newStack(t, func(c *stackConfig) {
		c.sale.SoldOutTTL = time.Hour
		c.deps.Now = func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
	})
	other := newStack(t)
	id := s.list(1)
	orderOf := func(r reply) string {
		var k struct{ OrderNo string }
		_ = json.Unmarshal(r.Data, &k)
		return k.OrderNo
	}
	first := s.kill(1, id)
	if r := s.kill(2, id); r.Status != http.StatusGone {
		t.Fatalf("sold out: %d", r.Status)
	}
	if r := s.as(1, "POST", "/seckill/orders/"+orderOf(first)+"/cancel", ""); r.Status != http.StatusOK {
		t.Fatalf("cancel: %d %s", r.Status, r.Message)
	}
	second := s.kill(2, id)
	if second.Status != http.StatusOK {
		t.Fatalf("buy right after a cancellation on this instance: %d %s", second.Status, second.Message)
	}
	if r := s.kill(3, id); r.Status != http.StatusGone {
		t.Fatalf("sold out again: %d", r.Status)
	}
	if r := other.as(2, "POST", "/seckill/orders/"+orderOf(second)+"/cancel", ""); r.Status != http.StatusOK {
		t.Fatalf("cancel through another instance: %d %s", r.Status, r.Message)
	}
	if r := s.kill(3, id); r.Status != http.StatusGone {
		t.Fatalf("buy within the sold-out TTL after a cancellation elsewhere: %d, want 410 from the fast path", r.Status)
	}
	ahead.Store(int64(time.Hour))
	if r := s.kill(3, id); r.Status != http.StatusOK {
		t.Fatalf("buy after a cancellation elsewhere: %d %s", r.Status, r.Message)
	}
}

// TestRateLimitIs429AndReservesNothing: a buyer over the per-buyer rate gets 429 before Redis is asked.
func TestRateLimitIs429AndReservesNothing(t *testing.T) {
	s := newStack(t, func(c *stackConfig) { c.sale.RatePerUser, c.sale.RateBurst = 0.001, 1 })
	a, b := s.list(5), s.list(5)
	if r := s.kill(77, a); r.Status != http.StatusOK {
		t.Fatalf("first request: %d %s", r.Status, r.Message)
	}
	if r := s.kill(77, b); r.Status != http.StatusTooManyRequests {
		t.Fatalf("second request of the same buyer: %d, want 429", r.Status)
	}
	if got := s.redisStock(b); got != 5 {
		t.Fatalf("stock %d after a rate-limited request, want 5", got)
	}
	if r := s.kill(78, b); r.Status != http.StatusOK {
		t.Fatalf("another buyer: %d", r.Status)
	}
}

// TestAnswersAreCountedUnderTheirRoute: every API answer is counted by route and code, the buy endpoint's too
// (ServeHTTP hands it to its handler without the router); a wrong method or path is counted under no route.
func TestAnswersAreCountedUnderTheirRoute(t *testing.T) {
	s := newStack(t)
	id := s.list(1)
	s.kill(1001, id)
	s.kill(1002, id)
	s.kill(1002, id)
	s.as(1001, "GET", fmt.Sprintf("/seckill/result?productId=%d", id), "")
	s.do("GET", "/seckill/kill", "")
	s.do("POST", "/seckill/kill/", "")
	want := map[string]float64{"admin_list_product|201": 1, "kill|200": 1, "kill|410": 2, "result|200": 1}
	got := map[string]float64{}
	families, err := s.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "seckill_http_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			got[labels["route"]+"|"+labels["code"]] = m.GetCounter().GetValue()
		}
	}
	if !maps.Equal(got, want) {
		t.Errorf("seckill_http_requests_total by route|code = %v, want %v", got, want)
	}
}
