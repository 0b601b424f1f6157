package schema_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/events"
	"github.com/seckill/seckill/schema"
	"github.com/seckill/seckill/schema/schematest"
)

// TestReserveAllDecidesEachBuyerAsIfAlone: one reserve.lua call for eight buyers of a 5-unit sale leaves Redis
// exactly as eight Reserve calls in the same order leave a twin sale, and answers each buyer what its own call
// answered: a repeated buyer is told it already holds its order, stock taken by one buyer is gone for the next,
// the sale window is checked against each buyer's own time, and the outbox holds the same events.
func TestReserveAllDecidesEachBuyerAsIfAlone(t *testing.T) {
	rdb := schematest.Redis(t)
	ctx := context.Background()
	now := time.Now()
	start, end := now.Add(-time.Hour), now.Add(time.Hour)
	together, alone := loadSale(t, 5, &start, &end), loadSale(t, 5, &start, &end)
	reqs := []schema.ReserveRequest{
		{UserID: 1, Quantity: 1, Now: now},
		{UserID: 2, Quantity: 2, Now: now},
		{UserID: 1, Quantity: 1, Now: now},                     // already holds the first order
		{UserID: 3, Quantity: 1, Now: start.Add(-time.Second)}, // before the window
		{UserID: 4, Quantity: 1, Now: end},                     // after it
		{UserID: 5, Quantity: 3, Now: now},                     // 2 left: sold out for 3
		{UserID: 6, Quantity: 2, Now: now},                     // takes the last 2
		{UserID: 7, Quantity: 1, Now: now},                     // sold out
	}
	for i := range reqs {
		reqs[i].EventID = uuid.NewString()
	}
	got, err := schema.ReserveAll(ctx, rdb, together, reqs)
	if err != nil {
		t.Fatal(err)
	}
	want := []schema.Outcome{schema.Reserved, schema.Reserved, schema.AlreadyBought, schema.NotStarted, schema.Ended,
		schema.SoldOut, schema.Reserved, schema.SoldOut}
	twin := func(s string) string { return strings.Replace(s, fmt.Sprint(together), fmt.Sprint(alone), 1) }
	for i, r := range reqs {
		one, err := schema.Reserve(ctx, rdb, alone, r.UserID, r.Quantity, r.EventID, r.Now)
		if err != nil {
			t.Fatal(err)
		}
		g := got[i]
		if g.Outcome != want[i] || g.Outcome != one.Outcome || twin(g.OrderNo) != one.OrderNo || g.Stock != one.Stock ||
			g.EventSeq != one.EventSeq || (g.OutboxID == "") != (one.OutboxID == "") {
			t.Fatalf("buyer %d (user %d): together %+v, alone %+v, want %v", i, r.UserID, g, one, want[i])
		}
	}
	a, b := schema.KeysFor(together), schema.KeysFor(alone)
	for _, k := range [][2]string{{a.Stock, b.Stock}, {a.Seq, b.Seq}, {a.EvSeq, b.EvSeq}} {
		x, _ := rdb.Get(ctx, k[0]).Result()
		y, _ := rdb.Get(ctx, k[1]).Result()
		if x != y {
			t.Fatalf("%s = %q, but %s = %q", k[0], x, k[1], y)
		}
	}
	for _, k := range [][2]string{{a.Buyers, b.Buyers}, {a.Orders, b.Orders}} {
		x, _ := rdb.HGetAll(ctx, k[0]).Result()
		y, _ := rdb.HGetAll(ctx, k[1]).Result()
		if len(x) != len(y) {
			t.Fatalf("%s = %v, but %s = %v", k[0], x, k[1], y)
		}
		for f, v := range x {
			if y[twin(f)] != twin(v) {
				t.Fatalf("%s[%s] = %q, but %s has %q", k[0], f, v, k[1], y[twin(f)])
			}
		}
	}
	x, _ := schema.ReadOutbox(ctx, rdb, together, now.Add(2*time.Hour), 20)
	y, _ := schema.ReadOutbox(ctx, rdb, alone, now.Add(2*time.Hour), 20)
	if len(x) != 3 || len(y) != 3 || x[0].StreamID != got[0].OutboxID || x[2].StreamID != got[6].OutboxID {
		t.Fatalf("outbox entries: together %+v, alone %+v", x, y)
	}
	for i := range x {
		e, f := *x[i].Event.(*events.SeckillReserved), *y[i].Event.(*events.SeckillReserved)
		e.ProductID, e.OrderNo = f.ProductID, twin(e.OrderNo)
		if e != f {
			t.Fatalf("outbox event %d: together %+v, alone %+v", i, e, f)
		}
	}
}

// TestReserveAllOfAnUnknownProductOrOfNoBuyers: every buyer of a product that is not loaded is told so, and a
// call of no buyers or of more than MaxReserveAll is refused before it is sent.
func TestReserveAllOfAnUnknownProductOrOfNoBuyers(t *testing.T) {
	rdb := schematest.Redis(t)
	ctx := context.Background()
	id := schematest.ProductID(t, rdb)
	r := schema.ReserveRequest{UserID: 1, Quantity: 1, EventID: uuid.NewString(), Now: time.Now()}
	got, err := schema.ReserveAll(ctx, rdb, id, []schema.ReserveRequest{r, r, r})
	if err != nil || len(got) != 3 || got[0].Outcome != schema.UnknownProduct || got[2].Outcome != schema.UnknownProduct {
		t.Fatalf("unknown product: %+v, %v", got, err)
	}
	if _, err := schema.ReserveAll(ctx, rdb, id, nil); err == nil {
		t.Fatal("no buyers: no error")
	}
	if _, err := schema.ReserveAll(ctx, rdb, id, make([]schema.ReserveRequest, schema.MaxReserveAll+1)); err == nil {
		t.Fatal("too many buyers: no error")
	}
	if n, _ := rdb.Exists(ctx, schema.KeysFor(id).Buyers, schema.KeysFor(id).Outbox).Result(); n != 0 {
		t.Fatalf("%d keys of the unknown product exist", n)
	}
}

// TestConcurrentBuyersAreEachAnsweredExactly: 600 buyers of a 150-unit sale and one buyer's burst of 50 at the
// same instant, their reservations made three ways: a Reserve call each through the autopipeliner (its calls share
// round trips), and a Reserver (its calls carry several buyers, never more than MaxReserveAll) over the
// autopipeliner serve uses and over a plain client. Each buyer still gets its own answer: exactly 150 reserve, each
// with an order Redis records for that very buyer and a distinct stock after, the rest are told sold out, and the
// burst reserves at most once.
func TestConcurrentBuyersAreEachAnsweredExactly(t *testing.T) {
	rdb := schema.NewClient(redis.UniversalOptions{Addrs: []string{schematest.RedisAddr()}, PoolSize: 8})
	t.Cleanup(func() { _ = rdb.Close() })
	ap, err := schema.ScriptPipeline(rdb)
	if err != nil {
		t.Fatal(err)
	}
	type reserveFunc func(ctx context.Context, id int64, r schema.ReserveRequest) (schema.ReserveResult, error)
	var calls, largest atomic.Int64
	observe := func(buyers int) {
		calls.Add(1)
		for m := largest.Load(); int64(buyers) > m && !largest.CompareAndSwap(m, int64(buyers)); m = largest.Load() {
		}
	}
	ways := map[string]reserveFunc{
		"a call each, autopipelined": func(ctx context.Context, id int64, r schema.ReserveRequest) (schema.ReserveResult, error) {
			return schema.Reserve(ctx, ap, id, r.UserID, r.Quantity, r.EventID, r.Now)
		},
		"reserver, autopipelined": schema.NewReserver(ap, observe).Reserve,
		"reserver, plain client":  schema.NewReserver(rdb, observe).Reserve,
	}
	for name, reserve := range ways {
		t.Run(name, func(t *testing.T) {
			calls.Store(0)
			largest.Store(0)
			ctx := context.Background()
			id := schematest.ProductID(t, rdb)
			if _, err := schema.LoadSale(ctx, rdb, schema.Sale{ProductID: id, Name: "x", Price: 100, Stock: 150, Listed: 150}); err != nil {
				t.Fatal(err)
			}
			const buyers, burst = 600, 50
			results := make([]schema.ReserveResult, buyers+burst)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range results {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					user := int64(i + 1)
					if i >= buyers {
						user = 1_000_000
					}
					r, err := reserve(ctx, id, schema.ReserveRequest{UserID: user, Quantity: 1, EventID: uuid.NewString(), Now: time.Now()})
					if err != nil {
						t.Error(err)
					}
					results[i] = r
				}()
			}
			close(start)
			wg.Wait()
			if n := calls.Load(); n > 0 && (n >= buyers+burst || largest.Load() < 2 || largest.Load() > schema.MaxReserveAll) {
				t.Fatalf("%d calls for %d buyers, the largest of %d buyers; want calls of 2 to %d buyers",
					n, buyers+burst, largest.Load(), schema.MaxReserveAll)
			}
			k := schema.KeysFor(id)
			orders, _ := rdb.HGetAll(ctx, k.Orders).Result()
			marks, _ := rdb.HGetAll(ctx, k.Buyers).Result()
			count := map[schema.Outcome]int{}
			stocks := map[int64]bool{}
			burstReserved := 0
			for i, r := range results {
				count[r.Outcome]++
				if r.Outcome != schema.Reserved {
					continue
				}
				user := int64(i + 1)
				if i >= buyers {
					user, burstReserved = 1_000_000, burstReserved+1
				}
				if want := fmt.Sprintf("0|%d|1", user); orders[r.OrderNo] != want || marks[fmt.Sprint(user)] != r.OrderNo {
					t.Fatalf("buyer %d was answered order %s; redis records %q for it and marks the buyer with %q",
						user, r.OrderNo, orders[r.OrderNo], marks[fmt.Sprint(user)])
				}
				if stocks[r.Stock] {
					t.Fatalf("two reservations were answered stock %d", r.Stock)
				}
				stocks[r.Stock] = true
			}
			if count[schema.Reserved] != 150 || count[schema.SoldOut]+count[schema.AlreadyBought] != buyers+burst-150 ||
				len(orders) != 150 || len(marks) != 150 || burstReserved > 1 {
				t.Fatalf("outcomes %v, %d orders and %d buyer marks in redis, the burst reserved %d times", count, len(orders), len(marks), burstReserved)
			}
			if s, _ := rdb.Get(ctx, k.Stock).Int64(); s != 0 {
				t.Fatalf("stock %d, want 0", s)
			}
		})
	}
}

// TestReserverDropsABuyerWhoGaveUpBeforeItsTurn: a buyer whose context ended before its call was sent is told the
// script did not run, and nothing was reserved for it.
func TestReserverDropsABuyerWhoGaveUpBeforeItsTurn(t *testing.T) {
	rdb := schematest.Redis(t)
	id := loadSale(t, 3, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := schema.NewReserver(rdb, nil).Reserve(ctx, id, schema.ReserveRequest{UserID: 9, Quantity: 1, EventID: uuid.NewString(), Now: time.Now()})
	if !errors.Is(err, schema.ErrScriptNotRun) || !errors.Is(err, context.Canceled) || !errors.Is(schema.ScriptCallError(err), schema.ErrScriptNotRun) {
		t.Fatalf("err = %v, want ErrScriptNotRun wrapping context.Canceled", err)
	}
	if s, _ := rdb.Get(context.Background(), schema.KeysFor(id).Stock).Int64(); s != 3 {
		t.Fatalf("stock %d, want 3", s)
	}
}

// TestReserverFailsEveryBuyerOfACallThatFailed: with Redis unreachable, every buyer of every call is told the
// script did not run.
func TestReserverFailsEveryBuyerOfACallThatFailed(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	rdb := schema.NewClient(redis.UniversalOptions{Addrs: []string{addr}, DialTimeout: time.Second})
	t.Cleanup(func() { _ = rdb.Close() })
	reserver := schema.NewReserver(rdb, nil)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := reserver.Reserve(context.Background(), 1, schema.ReserveRequest{UserID: int64(i), Quantity: 1, EventID: uuid.NewString(), Now: time.Now()})
			if err == nil || !errors.Is(schema.ScriptCallError(err), schema.ErrScriptNotRun) {
				t.Errorf("buyer %d: err = %v, want one that says the script did not run", i, err)
			}
		}()
	}
	wg.Wait()
}
