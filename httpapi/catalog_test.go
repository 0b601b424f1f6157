package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/seckill/seckill/eventmsg"
	"github.com/seckill/seckill/projections"
	"github.com/seckill/seckill/rocketmqpubsub"
	"github.com/seckill/seckill/sale"
	"github.com/seckill/seckill/schema/schematest"
)

type saleView struct {
	ID        int64      `json:"id"`
	Name      string     `json:"name"`
	Price     float64    `json:"price"`
	Stock     int64      `json:"stock"`
	StartTime *time.Time `json:"startTime"`
	EndTime   *time.Time `json:"endTime"`
}

// listWindow lists a product with a sale window (nil: open) through the admin API.
func (s *stack) listWindow(stock int64, start, end *time.Time) int64 {
	s.t.Helper()
	id := schematest.ProductID(s.t, s.rdb)
	body := fmt.Sprintf(`{"id":%d,"name":"Sale %d","price":19.90,"stock":%d`, id, id, stock)
	if start != nil {
		body += fmt.Sprintf(`,"startTime":%q`, start.Format(time.RFC3339))
	}
	if end != nil {
		body += fmt.Sprintf(`,"endTime":%q`, end.Format(time.RFC3339))
	}
	if r := s.admin("POST", "/admin/products", body+"}"); r.Status != http.StatusCreated {
		s.t.Fatalf("list: %d %s", r.Status, r.Message)
	}
	return id
}

func (s *stack) sales() []saleView {
	s.t.Helper()
	r := s.do("GET", "/seckill/products", "")
	if r.Status != http.StatusOK {
		s.t.Fatalf("GET /seckill/products: %d %s", r.Status, r.Message)
	}
	var out []saleView
	if err := json.Unmarshal(r.Data, &out); err != nil {
		s.t.Fatalf("GET /seckill/products data %s: %v", r.Data, err)
	}
	return out
}

// TestProductListShowsLiveAndUpcomingSales: GET /seckill/products lists the live sales, then the upcoming ones,
// with the fields of GET /seckill/products/{id} and the stock live from Redis; ended sales are left out. It is
// public and cacheable for a second.
func TestProductListShowsLiveAndUpcomingSales(t *testing.T) {
	s := newStack(t)
	now := time.Now().Truncate(time.Second)
	at := func(d time.Duration) *time.Time { v := now.Add(d); return &v }
	open := s.listWindow(5, nil, nil)
	live := s.listWindow(3, at(-time.Hour), at(time.Hour))
	upcoming := s.listWindow(7, at(time.Hour), at(2*time.Hour))
	ended := s.listWindow(9, at(-2*time.Hour), at(-time.Hour))
	soonOver := s.listWindow(2, at(-time.Hour), at(3*time.Second))

	req := httptest.NewRequest("GET", "/seckill/products", nil)
	rec := httptest.NewRecorder()
	s.handler.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || rec.Header().Get("Cache-Control") != "max-age=1" {
		t.Fatalf("GET /seckill/products without a token: %d, Cache-Control %q; want 200 and max-age=1", rec.Code,
			rec.Header().Get("Cache-Control"))
	}
	got := s.sales()
	var ids []int64
	for _, p := range got {
		ids = append(ids, p.ID)
	}
	if want := []int64{open, live, soonOver, upcoming}; fmt.Sprint(ids) != fmt.Sprint(want) &&
		fmt.Sprint(ids) != fmt.Sprint([]int64{open, soonOver, live, upcoming}) {
		t.Fatalf("listed %v, want the open sale, the live ones (by start) and the upcoming one %v; never the ended %d",
			ids, want, ended)
	}
	one := s.do("GET", fmt.Sprintf("/seckill/products/%d", upcoming), "")
	var single saleView
	_ = json.Unmarshal(one.Data, &single)
	if item := got[len(got)-1]; fmt.Sprint(item) != fmt.Sprint(single) || item.Name == "" || item.Price != 19.90 || item.Stock != 7 {
		t.Fatalf("listed %+v, want what GET /seckill/products/{id} says: %+v", item, single)
	}

	fresh := s.listWindow(1, nil, nil)
	if !listed(s.sales(), fresh) {
		t.Fatalf("product %d listed right after a list request is not on the next one", fresh)
	}

	if r := s.kill(1, live); r.Status != http.StatusOK {
		t.Fatalf("kill: %d %s", r.Status, r.Message)
	}
	for _, p := range s.sales() {
		if p.ID == live && p.Stock != 2 {
			t.Fatalf("stock of %d listed as %d right after a reservation, want 2 (live from Redis)", live, p.Stock)
		}
	}

	deadline := time.Now().Add(10 * time.Second)
	for listed(s.sales(), soonOver) {
		if time.Now().After(deadline) {
			t.Fatalf("sale %d still listed after its end", soonOver)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func listed(sales []saleView, id int64) bool {
	for _, p := range sales {
		if p.ID == id {
			return true
		}
	}
	return false
}

// TestBoardShowsEachSaleFigures: GET /admin/products needs the admin token and gives, for each listed product,
// its orders by state in MySQL, its outbox depth, its parked events and its audit.
func TestBoardShowsEachSaleFigures(t *testing.T) {
	s := newStack(t)
	if r := s.do("GET", "/admin/products", ""); r.Status != http.StatusUnauthorized {
		t.Fatalf("board without the admin token: %d, want 401", r.Status)
	}
	id := s.list(5)
	other := s.list(4)
	var orders []string
	for u := int64(1); u <= 3; u++ {
		r := s.kill(u, id)
		var k struct{ OrderNo string }
		_ = json.Unmarshal(r.Data, &k)
		orders = append(orders, k.OrderNo)
	}
	if r := s.as(1, "POST", "/seckill/orders/"+orders[0]+"/pay", ""); r.Status != http.StatusOK {
		t.Fatalf("pay: %d %s", r.Status, r.Message)
	}
	if r := s.as(2, "POST", "/seckill/orders/"+orders[1]+"/cancel", ""); r.Status != http.StatusOK {
		t.Fatalf("cancel: %d %s", r.Status, r.Message)
	}
	s.project(5) // 3 reservations, 1 payment, 1 cancellation (listings go to MySQL directly)
	if _, err := s.db.DB.Exec(`INSERT INTO tb_dlq (event_id, event_type, payload, metadata, reason, handler,
		original_topic, retries, parked_at) VALUES (?, 'SeckillOrderPaid', ?, '{}', 'test', 'test', 'seckill-topic', 16, NOW(3))`,
		"dlq-"+schematest.RandomSuffix(), fmt.Sprintf(`{"productId":%d}`, other)); err != nil {
		t.Fatal(err)
	}

	r := s.admin("GET", "/admin/products", "")
	var b sale.Board
	if err := json.Unmarshal(r.Data, &b); r.Status != http.StatusOK || err != nil {
		t.Fatalf("board: %d %s %v", r.Status, r.Data, err)
	}
	if b.DLQ != 1 || len(b.Sales) != 2 {
		t.Fatalf("board has %d sales and DLQ %d, want 2 and 1: %s", len(b.Sales), b.DLQ, r.Data)
	}
	sales := map[int64]sale.BoardSale{}
	for _, p := range b.Sales {
		sales[p.ID] = p
	}
	p := sales[id]
	want := sale.OrderCounts{AwaitingPayment: 1, Paid: 1, Cancelled: 1}
	if p.Orders != want || p.Outbox != 0 || p.DLQ != 0 || p.Audit == nil {
		t.Fatalf("sale %d on the board: %+v, want orders %+v, no outbox, no DLQ, an audit", id, p, want)
	}
	if a := *p.Audit; a.RedisStock != 3 || a.MySQLStock != 3 || a.Reserved != 2 || !a.Consistent {
		t.Fatalf("audit of %d: %+v, want stock 3 on both sides, 2 reserved, consistent", id, a)
	}
	if q := sales[other]; q.DLQ != 1 || q.Audit == nil || q.Audit.RedisStock != 4 {
		t.Fatalf("sale %d on the board: %+v, want 1 parked event and stock 4", other, q)
	}
}

// project consumes the stack's topic and records each event with the real projection store until n events are
// applied.
func (s *stack) project(n int) {
	s.t.Helper()
	store, err := projections.NewStore(s.db.DB)
	if err != nil {
		s.t.Fatal(err)
	}
	sub, err := rocketmqpubsub.NewSubscriber(rocketmqpubsub.SubscriberConfig{NameServers: []string{s.namesrv},
		ConsumerGroup: "test-" + schematest.RandomSuffix()}, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	defer sub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	msgs, err := sub.Subscribe(ctx, s.topic)
	if err != nil {
		s.t.Fatal(err)
	}
	for applied := 0; applied < n; {
		m, ok := <-msgs
		if !ok {
			s.t.Fatalf("%d of %d events applied before the timeout", applied, n)
		}
		e, err := eventmsg.FromMessage(m)
		if err != nil {
			s.t.Fatal(err)
		}
		outcome, err := store.Record(ctx, e)
		if err != nil {
			s.t.Fatal(err)
		}
		m.Ack()
		if outcome != projections.Duplicate {
			applied++
		}
	}
}
