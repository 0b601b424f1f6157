package sale_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/events"
	"github.com/seckill/seckill/projections"
	"github.com/seckill/seckill/sale"
	"github.com/seckill/seckill/schema"
	"github.com/seckill/seckill/schema/schematest"
)

// undelivered leaves every event in its product's Redis outbox (no relay walks RedisDBSale): these tests look at
// what the sale decides, not at delivery.
type undelivered struct{}

func (undelivered) Deliver(context.Context, int64, string, events.Event) bool { return false }

// newService builds a Service over the real Redis and MySQL with the records going to MySQL's event store.
func newService(t testing.TB, rdb redis.UniversalClient, db *sql.DB, opts ...func(*sale.Config, *sale.Deps)) *sale.Service {
	t.Helper()
	store, err := projections.NewStore(db)
	if err != nil {
		t.Fatal(err)
	}
	cfg := sale.Config{}
	deps := sale.Deps{Redis: rdb, DB: db, Store: store, Outbox: undelivered{}, Registerer: prometheus.NewRegistry()}
	for _, o := range opts {
		o(&cfg, &deps)
	}
	svc, err := sale.New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// wantErr checks that err is of kind and carries exactly the client's message.
func wantErr(t *testing.T, what string, err, kind error, msg string) {
	t.Helper()
	var se *sale.Error
	if !errors.Is(err, kind) || !errors.As(err, &se) || se.Msg != msg || err.Error() != msg {
		t.Errorf("%s: %v, want %v %q", what, err, kind, msg)
	}
}

// TestEveryRefusalIsATypedError drives real sales in Redis and MySQL into each refusal: each comes back as the
// kind adapters map (errors.Is) with the message a client reads, and changes nothing.
func TestEveryRefusalIsATypedError(t *testing.T) {
	ctx := context.Background()
	rdb, db := schematest.RedisDB(t, schematest.RedisDBSale), schematest.MySQL(t).DB
	svc := newService(t, rdb, db, func(c *sale.Config, _ *sale.Deps) { c.SoldOutTTL = time.Hour }) // the cache answers
	list := func(stock int64, start, end *time.Time) int64 {
		t.Helper()
		id := schematest.ProductID(t, rdb)
		if err := svc.List(ctx, &events.ProductListed{ProductID: id, Name: "iPhone 15 Pro", Price: 699900, Stock: stock,
			StartTime: start, EndTime: end}); err != nil {
			t.Fatal(err)
		}
		return id
	}
	id := list(1, nil, nil)
	r, err := svc.Reserve(ctx, 1, id, 1)
	if err != nil || r.RemainingStock != 0 || r.UserID != 1 || r.ProductID != id || r.Quantity != 1 {
		t.Fatalf("reserve: %+v, %v", r, err)
	}

	_, err = svc.Reserve(ctx, 2, id, 2)
	wantErr(t, "quantity above MaxPerUser", err, sale.ErrInvalid, "quantity: must be an integer from 1 to 1")
	_, err = svc.Reserve(ctx, 1, id, 1)
	wantErr(t, "second buy", err, sale.ErrAlreadyBought, fmt.Sprintf("user 1 already holds order %s for product %d", r.OrderNo, id))
	_, err = svc.Reserve(ctx, 2, id, 1)
	wantErr(t, "no stock left", err, sale.ErrSoldOut, fmt.Sprintf("product %d is sold out (stock 0, wanted 1)", id))
	_, err = svc.Reserve(ctx, 3, id, 1)
	wantErr(t, "sold out, from the cache", err, sale.ErrSoldOut, fmt.Sprintf("product %d is sold out", id))
	unknown := schematest.ProductID(t, rdb)
	_, err = svc.Reserve(ctx, 1, unknown, 1)
	wantErr(t, "unknown product", err, sale.ErrNotFound, fmt.Sprintf("product %d not found", unknown))
	later, earlier := time.Now().Add(time.Hour), time.Now().Add(-time.Hour)
	upcoming, ended := list(5, &later, nil), list(5, nil, &earlier)
	_, err = svc.Reserve(ctx, 1, upcoming, 1)
	wantErr(t, "before the start", err, sale.ErrNotStarted, fmt.Sprintf("product %d: the sale has not started", upcoming))
	_, err = svc.Reserve(ctx, 1, ended, 1)
	wantErr(t, "after the end", err, sale.ErrEnded, fmt.Sprintf("product %d: the sale has ended", ended))

	_, err = svc.Pay(ctx, 2, r.OrderNo)
	wantErr(t, "paying someone else's order", err, sale.ErrNotFound, fmt.Sprintf("order %s not found", r.OrderNo))
	_, err = svc.Cancel(ctx, 2, r.OrderNo)
	wantErr(t, "cancelling someone else's order", err, sale.ErrNotFound, fmt.Sprintf("order %s not found", r.OrderNo))
	_, err = svc.Pay(ctx, 1, "SK-nonsense")
	wantErr(t, "paying an order number of no product", err, sale.ErrNotFound, "order SK-nonsense not found")
	missing := fmt.Sprintf("SK%d-%08d", id, 99)
	_, err = svc.Pay(ctx, 1, missing)
	wantErr(t, "paying an order Redis does not hold", err, sale.ErrNotFound, fmt.Sprintf("order %s not found", missing))
	_, err = svc.Order(ctx, 1, r.OrderNo) // undelivered: never projected
	wantErr(t, "reading an order MySQL does not hold yet", err, sale.ErrNotFound, fmt.Sprintf("order %s not found (yet)", r.OrderNo))
	if st, err := svc.Pay(ctx, 1, r.OrderNo); err != nil || st.Status != 1 || st.OrderNo != r.OrderNo {
		t.Fatalf("pay: %+v, %v", st, err)
	}
	_, err = svc.Pay(ctx, 1, r.OrderNo)
	wantErr(t, "paying twice", err, sale.ErrNotSettleable, fmt.Sprintf("order %s is not payable: it is already paid", r.OrderNo))
	_, err = svc.Cancel(ctx, 1, r.OrderNo)
	wantErr(t, "cancelling a paid order", err, sale.ErrNotSettleable, fmt.Sprintf("order %s is not cancellable: it is already paid", r.OrderNo))
	if st, err := svc.Result(ctx, 1, id); err != nil || st.Status != "PAID" || st.OrderNo == nil || *st.OrderNo != r.OrderNo {
		t.Fatalf("result after paying: %+v, %v", st, err)
	}

	err = svc.List(ctx, &events.ProductListed{ProductID: id, Name: "again", Price: 1, Stock: 100})
	wantErr(t, "listing an id twice", err, sale.ErrAlreadyListed, fmt.Sprintf("product %d is already listed", id))
	if listed, err := svc.ListProduct(ctx, &events.ProductListed{ProductID: id, Name: "again", Price: 1, Stock: 100}); listed || err != nil {
		t.Fatalf("ListProduct of a listed id: %v, %v; want false, nil", listed, err)
	}
	if p, err := svc.Product(ctx, id); err != nil || p.Stock != 0 || p.Name != "iPhone 15 Pro" {
		t.Fatalf("the listed product after refused listings: %+v, %v", p, err)
	}
	_, err = svc.Product(ctx, unknown)
	wantErr(t, "unknown product's page", err, sale.ErrNotFound, fmt.Sprintf("product %d not found", unknown))
	_, err = svc.Audit(ctx, unknown)
	wantErr(t, "unknown product's audit", err, sale.ErrNotFound, fmt.Sprintf("product %d not found", unknown))
}

// TestABuyerOverTheRateIsRateLimited: with one request per 1,000 s and a burst of 1, a buyer's second attempt is
// refused before Redis; another buyer is not.
func TestABuyerOverTheRateIsRateLimited(t *testing.T) {
	ctx := context.Background()
	rdb, db := schematest.RedisDB(t, schematest.RedisDBSale), schematest.MySQL(t).DB
	svc := newService(t, rdb, db, func(c *sale.Config, _ *sale.Deps) { c.RatePerUser, c.RateBurst = 0.001, 1 })
	id := schematest.ProductID(t, rdb)
	if err := svc.List(ctx, &events.ProductListed{ProductID: id, Name: "x", Price: 100, Stock: 5}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Reserve(ctx, 7, id, 1); err != nil {
		t.Fatal(err)
	}
	_, err := svc.Reserve(ctx, 7, id, 1)
	wantErr(t, "second attempt", err, sale.ErrRateLimited, "user 7: too many requests, slow down")
	if _, err := svc.Reserve(ctx, 8, id, 1); err != nil {
		t.Fatalf("another buyer: %v", err)
	}
}

// TestRedisDownIsUnavailable: a sale whose Redis does not answer refuses with ErrUnavailable (the script never
// ran: nothing reserved, nothing changed), carrying the failure as its cause.
// TestConcurrentBuyersShareScriptCalls: 300 buyers of a 100-unit sale at the same instant, over the client serve
// uses. Their reservations go to Redis in fewer calls than buyers (seckill_reserve_call_buyers counts each
// buyer in exactly one call), and each buyer's answer is its own: 100 distinct orders, 200 sold out.
func TestConcurrentBuyersShareScriptCalls(t *testing.T) {
	ctx := context.Background()
	rdb := schema.NewClient(redis.UniversalOptions{Addrs: []string{schematest.RedisAddr()}, DB: schematest.RedisDBSale, PoolSize: 8})
	t.Cleanup(func() { _ = rdb.Close() })
	reg := prometheus.NewRegistry()
	svc := newService(t, rdb, schematest.MySQL(t).DB, func(c *sale.Config, d *sale.Deps) {
		c.SoldOutTTL = -1 // every buyer reaches the script
		d.Registerer = reg
	})
	id := schematest.ProductID(t, rdb)
	if err := svc.List(ctx, &events.ProductListed{ProductID: id, Name: "x", Price: 100, Stock: 100}); err != nil {
		t.Fatal(err)
	}
	const buyers = 300
	orders := make([]string, buyers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range orders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r, err := svc.Reserve(ctx, int64(i+1), id, 1)
			switch {
			case err == nil:
				orders[i] = r.OrderNo
			case !errors.Is(err, sale.ErrSoldOut):
				t.Error(err)
			}
		}()
	}
	close(start)
	wg.Wait()
	seen := map[string]bool{}
	for i, o := range orders {
		if o == "" {
			continue
		}
		if seen[o] {
			t.Fatalf("order %s was answered twice", o)
		}
		seen[o] = true
		if r, err := svc.Result(ctx, int64(i+1), id); err != nil || r.OrderNo == nil || *r.OrderNo != o {
			t.Fatalf("buyer %d was answered %s; its result: %+v, %v", i+1, o, r, err)
		}
	}
	if len(seen) != 100 {
		t.Fatalf("%d reservations, want 100", len(seen))
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "seckill_reserve_call_buyers" {
			h := mf.GetMetric()[0].GetHistogram()
			if h.GetSampleSum() != buyers || h.GetSampleCount() >= buyers {
				t.Fatalf("%d calls carried %v buyers; want %d buyers in fewer calls", h.GetSampleCount(), h.GetSampleSum(), buyers)
			}
			return
		}
	}
	t.Fatal("no seckill_reserve_call_buyers metric")
}

// TestABuyerWhoHangsUpBeforeItsTurnIsNotRedisDown: a request whose context ended before its reservation reached
// Redis reserves nothing and is counted as abandoned, not as redis_down (which pages the operator).
func TestABuyerWhoHangsUpBeforeItsTurnIsNotRedisDown(t *testing.T) {
	rdb := schematest.RedisDB(t, schematest.RedisDBSale)
	reg := prometheus.NewRegistry()
	svc := newService(t, rdb, schematest.MySQL(t).DB, func(_ *sale.Config, d *sale.Deps) { d.Registerer = reg })
	id := schematest.ProductID(t, rdb)
	if err := svc.List(context.Background(), &events.ProductListed{ProductID: id, Name: "x", Price: 100, Stock: 5}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := svc.Reserve(ctx, 1, id, 1)
	wantErr(t, "reserve", err, sale.ErrUnavailable, "redis unavailable: nothing was reserved, try again")
	if r, err := svc.Result(context.Background(), 1, id); err != nil || r.OrderNo != nil {
		t.Fatalf("result after hanging up: %+v, %v; want no order", r, err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() == "seckill_reservations_total" {
			for _, m := range mf.GetMetric() {
				counts[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
			}
		}
	}
	if counts["abandoned"] != 1 || counts["redis_down"] != 0 {
		t.Fatalf("reservations by outcome %v; want abandoned 1, redis_down 0", counts)
	}
}

func TestRedisDownIsUnavailable(t *testing.T) {
	ctx := context.Background()
	db := schematest.MySQL(t).DB
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { _ = down.Close() })
	svc := newService(t, down, db)
	_, err := svc.Reserve(ctx, 1, 1, 1)
	wantErr(t, "reserve", err, sale.ErrUnavailable, "redis unavailable: nothing was reserved, try again")
	var se *sale.Error
	if errors.As(err, &se) && se.Cause == nil {
		t.Errorf("reserve: no cause for the logs")
	}
	_, err = svc.Pay(ctx, 1, "SK1-00000001")
	wantErr(t, "pay", err, sale.ErrUnavailable, "redis unavailable: nothing changed, try again")
	_, err = svc.Result(ctx, 1, 1)
	wantErr(t, "result", err, sale.ErrUnavailable, "redis unavailable")
	err = svc.List(ctx, &events.ProductListed{ProductID: 1, Name: "x", Price: 100, Stock: 5})
	wantErr(t, "list", err, sale.ErrUnavailable, "redis unavailable: nothing listed")
}
