package schema_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/events"
	"github.com/seckill/seckill/schema"
	"github.com/seckill/seckill/schema/schematest"
)

func TestMigrateIsIdempotentAndCreatesTheContractTables(t *testing.T) {
	d := schematest.MySQL(t)
	ctx := context.Background()
	if err := schema.Migrate(ctx, d.DB); err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	want := map[string][]string{
		"tb_seckill_product": {"id", "product_name", "price", "stock", "version", "start_time", "end_time", "create_time", "update_time"},
		"tb_seckill_order":   {"order_no", "user_id", "product_id", "product_name", "price", "quantity", "status", "create_time", "update_time"},
		"tb_stock_log":       {"order_no", "product_id", "product_name", "quantity", "before_stock", "after_stock", "type", "create_time"},
		"tb_user_seckill":    {"user_id", "product_id", "order_no", "create_time"},
		"tb_event":           {"seq", "event_id", "event_type", "aggregate_id", "payload", "occurred_at", "recorded_at"},
	}
	for table, cols := range want {
		for _, c := range cols {
			var n int
			err := d.DB.QueryRow(`SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = ? AND table_name = ? AND column_name = ?`,
				d.Name, table, c).Scan(&n)
			if err != nil || n != 1 {
				t.Errorf("%s.%s: found %d (%v)", table, c, n, err)
			}
		}
	}
	uniques := map[string]string{"tb_seckill_order": "order_no", "tb_stock_log": "order_no,type",
		"tb_user_seckill": "user_id,product_id", "tb_event": "event_id"}
	for table, cols := range uniques {
		var got string
		err := d.DB.QueryRow(`SELECT GROUP_CONCAT(column_name ORDER BY seq_in_index) FROM information_schema.statistics
			WHERE table_schema = ? AND table_name = ? AND non_unique = 0 AND index_name <> 'PRIMARY' GROUP BY index_name`, d.Name, table).Scan(&got)
		if err != nil || got != cols {
			t.Errorf("%s unique key = %q (%v), want %q", table, got, err, cols)
		}
	}
}

func loadSale(t *testing.T, stock int64, start, end *time.Time) int64 {
	t.Helper()
	rdb := schematest.Redis(t)
	id := schematest.ProductID(t, rdb)
	loaded, err := schema.LoadSale(context.Background(), rdb, schema.Sale{ProductID: id, Name: "iPhone 15 Pro",
		Price: 699900, Start: start, End: end, Stock: stock, Listed: stock})
	if err != nil || !loaded {
		t.Fatalf("load sale: %v %v", loaded, err)
	}
	if in, err := rdb.SIsMember(context.Background(), schema.ProductsKey, id).Result(); err != nil || !in {
		t.Fatalf("loaded product %d is not registered in %s (%v)", id, schema.ProductsKey, err)
	}
	return id
}

func TestReserveOutcomes(t *testing.T) {
	rdb := schematest.Redis(t)
	ctx := context.Background()
	now := time.Now()
	later, earlier := now.Add(time.Hour), now.Add(-time.Hour)
	open := loadSale(t, 2, nil, nil)

	r, err := schema.Reserve(ctx, rdb, open, 1002, 1, uuid.NewString(), now)
	if err != nil || r.Outcome != schema.Reserved || r.Stock != 1 || r.OrderNo == "" {
		t.Fatalf("first reserve = %+v, %v", r, err)
	}
	again, _ := schema.Reserve(ctx, rdb, open, 1002, 1, uuid.NewString(), now)
	if again.Outcome != schema.AlreadyBought || again.OrderNo != r.OrderNo {
		t.Fatalf("same buyer again = %+v", again)
	}
	if tooMany, _ := schema.Reserve(ctx, rdb, open, 1003, 2, uuid.NewString(), now); tooMany.Outcome != schema.SoldOut || tooMany.Stock != 1 {
		t.Fatalf("quantity above stock = %+v", tooMany)
	}
	if last, _ := schema.Reserve(ctx, rdb, open, 1004, 1, uuid.NewString(), now); last.Outcome != schema.Reserved || last.Stock != 0 {
		t.Fatalf("last unit = %+v", last)
	}
	if out, _ := schema.Reserve(ctx, rdb, open, 1005, 1, uuid.NewString(), now); out.Outcome != schema.SoldOut {
		t.Fatalf("after sell-out = %+v", out)
	}
	notYet := loadSale(t, 5, &later, nil)
	if r, _ := schema.Reserve(ctx, rdb, notYet, 1, 1, uuid.NewString(), now); r.Outcome != schema.NotStarted {
		t.Fatalf("before start = %+v", r)
	}
	over := loadSale(t, 5, nil, &earlier)
	if r, _ := schema.Reserve(ctx, rdb, over, 1, 1, uuid.NewString(), now); r.Outcome != schema.Ended {
		t.Fatalf("after end = %+v", r)
	}
	if r, _ := schema.Reserve(ctx, rdb, open+1_000_000_000, 1, 1, uuid.NewString(), now); r.Outcome != schema.UnknownProduct {
		t.Fatalf("unknown product = %+v", r)
	}

	entries, err := schema.ReadOutbox(ctx, rdb, open, now.Add(time.Minute), 10)
	if err != nil || len(entries) != 2 {
		t.Fatalf("outbox = %v, %v; want the 2 reservations", entries, err)
	}
	ev := entries[0].Event.(*events.SeckillReserved)
	if ev.OrderNo != r.OrderNo || ev.UserID != 1002 || ev.StockBefore != 2 || ev.StockAfter != 1 || ev.Price != 699900 || ev.ProductName != "iPhone 15 Pro" {
		t.Fatalf("outbox event = %+v", ev)
	}
	if err := schema.AckOutbox(ctx, rdb, open, entries[0].StreamID, entries[1].StreamID); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := schema.OutboxStats(ctx, rdb, open); n != 0 {
		t.Fatalf("outbox depth after ack = %d", n)
	}
}

func TestLoadSaleNeverOverwritesLiveStock(t *testing.T) {
	rdb := schematest.Redis(t)
	ctx := context.Background()
	id := loadSale(t, 10, nil, nil)
	if _, err := schema.Reserve(ctx, rdb, id, 1, 1, uuid.NewString(), time.Now()); err != nil {
		t.Fatal(err)
	}
	loaded, err := schema.LoadSale(ctx, rdb, schema.Sale{ProductID: id, Name: "x", Stock: 10, Listed: 10})
	if err != nil || loaded {
		t.Fatalf("second load = %v, %v; want not loaded", loaded, err)
	}
	if s, _ := rdb.Get(ctx, schema.KeysFor(id).Stock).Int64(); s != 9 {
		t.Fatalf("stock = %d after reload, want 9", s)
	}
}

// TestOneBuyerManyRequestsAtOnce releases 200 goroutines of one buyer at the same instant: exactly one reserves.
func TestOneBuyerManyRequestsAtOnce(t *testing.T) {
	rdb := schematest.Redis(t)
	id := loadSale(t, 100, nil, nil)
	start := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	count := map[schema.Outcome]int{}
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r, err := schema.Reserve(context.Background(), rdb, id, 7, 1, uuid.NewString(), time.Now())
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			count[r.Outcome]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	if count[schema.Reserved] != 1 || count[schema.AlreadyBought] != 199 {
		t.Fatalf("outcomes = %v, want 1 reserved and 199 already bought", count)
	}
}

func TestSettleResolvesRacesToOneOutcome(t *testing.T) {
	rdb := schematest.Redis(t)
	ctx := context.Background()
	id := loadSale(t, 1, nil, nil)
	r, _ := schema.Reserve(ctx, rdb, id, 9, 1, uuid.NewString(), time.Now())
	var wg sync.WaitGroup
	results := make(chan schema.SettleResult, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			target := schema.Paid
			if i%2 == 0 {
				target = schema.Cancelled(events.ReasonUser)
			}
			res, err := schema.Settle(ctx, rdb, id, r.OrderNo, target, uuid.NewString(), time.Now())
			if err != nil {
				t.Error(err)
			}
			results <- res
		}()
	}
	wg.Wait()
	close(results)
	settled := 0
	for res := range results {
		if res.Outcome == schema.Settled {
			settled++
		} else if res.Outcome != schema.NotAwaitingPayment {
			t.Fatalf("unexpected %v", res.Outcome)
		}
	}
	if settled != 1 {
		t.Fatalf("%d settles won, want exactly 1", settled)
	}
	if res, _ := schema.Settle(ctx, rdb, id, "SK-nope", schema.Paid, uuid.NewString(), time.Now()); res.Outcome != schema.UnknownOrder {
		t.Fatalf("unknown order = %+v", res)
	}
}

func TestCancelReturnsStockAndBuyerMarkOnce(t *testing.T) {
	rdb := schematest.Redis(t)
	ctx := context.Background()
	id := loadSale(t, 1, nil, nil)
	r, _ := schema.Reserve(ctx, rdb, id, 9, 1, uuid.NewString(), time.Now())
	for i := range 2 {
		res, err := schema.Settle(ctx, rdb, id, r.OrderNo, schema.Cancelled(events.ReasonPaymentTimeout), uuid.NewString(), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 && (res.Outcome != schema.Settled || res.Stock != 1) {
			t.Fatalf("cancel = %+v", res)
		}
		if i == 1 && (res.Outcome != schema.NotAwaitingPayment || res.State != schema.StateCancelled) {
			t.Fatalf("second cancel = %+v", res)
		}
	}
	again, _ := schema.Reserve(ctx, rdb, id, 9, 1, uuid.NewString(), time.Now())
	if again.Outcome != schema.Reserved || again.OrderNo == r.OrderNo {
		t.Fatalf("buy again after cancel = %+v", again)
	}
	entries, _ := schema.ReadOutbox(ctx, rdb, id, time.Now().Add(time.Minute), 10)
	if len(entries) != 3 {
		t.Fatalf("outbox holds %d entries, want reserved, cancelled, reserved", len(entries))
	}
	c := entries[1].Event.(*events.SeckillOrderCancelled)
	if c.OrderNo != r.OrderNo || c.Quantity != 1 || c.Reason != events.ReasonPaymentTimeout || c.UserID != 9 ||
		c.StockBefore != 0 || c.StockAfter != 1 || c.ProductName != "iPhone 15 Pro" || c.Price != 699900 {
		t.Fatalf("cancel event = %+v", c)
	}
	// Every event of the product carries the next number of one sequence, in the order Redis decided them.
	if a, b := entries[0].Event.(*events.SeckillReserved).Seq, entries[2].Event.(*events.SeckillReserved).Seq; a != 1 ||
		c.Seq != 2 || b != 3 {
		t.Fatalf("event seqs %d, %d, %d; want 1, 2, 3", a, c.Seq, b)
	}
}

// TestReadOrderTellsWhatTheScriptsDecided: an order reads back with its buyer, quantity and the state the last
// script left; an unknown order is not known; a record of another shape is ErrBadOrderRecord, not a guess.
func TestReadOrderTellsWhatTheScriptsDecided(t *testing.T) {
	rdb := schematest.Redis(t)
	ctx := context.Background()
	id := loadSale(t, 5, nil, nil)
	r, _ := schema.Reserve(ctx, rdb, id, 7, 2, uuid.NewString(), time.Now())
	want := schema.OrderState{OrderNo: r.OrderNo, UserID: 7, Quantity: 2, State: schema.StateAwaitingPayment}
	if o, known, err := schema.ReadOrder(ctx, rdb, id, r.OrderNo); err != nil || !known || o != want {
		t.Fatalf("reserved order reads %+v, %v, %v; want %+v", o, known, err, want)
	}
	if _, err := schema.Settle(ctx, rdb, id, r.OrderNo, schema.Paid, uuid.NewString(), time.Now()); err != nil {
		t.Fatal(err)
	}
	want.State = schema.StatePaid
	if o, known, err := schema.ReadOrder(ctx, rdb, id, r.OrderNo); err != nil || !known || o != want {
		t.Fatalf("paid order reads %+v, %v, %v; want %+v", o, known, err, want)
	}
	if _, known, err := schema.ReadOrder(ctx, rdb, id, "SK-nope"); err != nil || known {
		t.Fatalf("unknown order: known %v, err %v", known, err)
	}
	if err := rdb.HSet(ctx, schema.KeysFor(id).Orders, "SK-bad", "1|x").Err(); err != nil {
		t.Fatal(err)
	}
	if _, known, err := schema.ReadOrder(ctx, rdb, id, "SK-bad"); !errors.Is(err, schema.ErrBadOrderRecord) || known {
		t.Fatalf("bad record: known %v, err %v; want ErrBadOrderRecord", known, err)
	}
}

// TestFastPathEventsEqualOutboxEntries holds that the event the request path rebuilds and publishes is the one
// the relay would read from the outbox, so a duplicate delivery is the same event.
func TestFastPathEventsEqualOutboxEntries(t *testing.T) {
	rdb := schematest.Redis(t)
	ctx := context.Background()
	id := loadSale(t, 3, nil, nil)
	now := time.Now()
	evID := uuid.NewString()
	r, _ := schema.Reserve(ctx, rdb, id, 5, 1, evID, now)
	fast := schema.ReservedEvent(id, 5, 1, evID, now, r, "iPhone 15 Pro", 699900)
	payID := uuid.NewString()
	s, _ := schema.Settle(ctx, rdb, id, r.OrderNo, schema.Paid, payID, now)
	paid := schema.SettledEvent(id, r.OrderNo, schema.Paid, payID, now, s)
	r2, _ := schema.Reserve(ctx, rdb, id, 6, 1, uuid.NewString(), now)
	cancelID := uuid.NewString()
	c, _ := schema.Settle(ctx, rdb, id, r2.OrderNo, schema.Cancelled(events.ReasonUser), cancelID, now)
	cancelled := schema.SettledEvent(id, r2.OrderNo, schema.Cancelled(events.ReasonUser), cancelID, now, c)
	entries, _ := schema.ReadOutbox(ctx, rdb, id, now.Add(time.Minute), 10)
	if len(entries) != 4 || entries[0].StreamID != r.OutboxID || entries[1].StreamID != s.OutboxID ||
		entries[3].StreamID != c.OutboxID {
		t.Fatalf("outbox = %+v", entries)
	}
	for i, fast := range map[int]events.Event{0: fast, 1: paid, 3: cancelled} {
		if !reflect.DeepEqual(entries[i].Event, fast) {
			t.Fatalf("outbox event\n%#v\nfast path\n%#v", entries[i].Event, fast)
		}
	}
	if p := paid.(*events.SeckillOrderPaid); p.Seq != 2 || p.Quantity != 1 || p.ProductName != "iPhone 15 Pro" || p.Price != 699900 {
		t.Fatalf("payment = %+v", p)
	}
}

func TestHeartbeatsTellLiveConsumers(t *testing.T) {
	d := schematest.MySQL(t)
	ctx := context.Background()
	for _, c := range []string{"a", "b"} {
		if err := schema.Heartbeat(ctx, d.DB, c); err != nil {
			t.Fatal(err)
		}
	}
	// a's last heartbeat was a minute ago, by the database's clock.
	if _, err := d.DB.ExecContext(ctx, `UPDATE tb_consumer_heartbeat SET seen_at = seen_at - INTERVAL 1 MINUTE
		WHERE instance = 'a'`); err != nil {
		t.Fatal(err)
	}
	live, err := schema.LiveConsumers(ctx, d.DB, 15*time.Second)
	if err != nil || !reflect.DeepEqual(live, []string{"b"}) {
		t.Fatalf("live = %v, %v; want [b]", live, err)
	}
	if err := schema.ForgetConsumer(ctx, d.DB, "b"); err != nil {
		t.Fatal(err)
	}
	if live, _ := schema.LiveConsumers(ctx, d.DB, 15*time.Second); len(live) != 0 {
		t.Fatalf("live after forget = %v", live)
	}
}

// TestRestoreSaleAfterRedisLostItsData: a product reloaded from MySQL gets its orders, buyer marks, order counter
// and event sequence back in the same step as its sale, so a buyer with a live order is refused, a cancelled one
// may buy again, new order numbers never repeat old ones, and new events are numbered past every event that may
// be in flight. A second restore, as from a second instance warming up, changes nothing.
func TestRestoreSaleAfterRedisLostItsData(t *testing.T) {
	rdb := schematest.Redis(t)
	ctx := context.Background()
	id := schematest.ProductID(t, rdb)
	no := func(n int) string { return fmt.Sprintf("SK%d-%08d", id, n) }
	sale := schema.Sale{ProductID: id, Name: "restored", Price: 100, Stock: 8, Listed: 10}
	orders := []schema.OrderState{
		{OrderNo: no(1), UserID: 1, Quantity: 1, State: schema.StatePaid},
		{OrderNo: no(7), UserID: 2, Quantity: 1, State: schema.StateCancelled},
		{OrderNo: no(3), UserID: 3, Quantity: 1, State: schema.StateAwaitingPayment},
	}
	restored, err := schema.RestoreSale(ctx, rdb, sale, orders, 40, 38)
	if err != nil || !restored {
		t.Fatalf("restore = %t, %v", restored, err)
	}
	if again, err := schema.RestoreSale(ctx, rdb, schema.Sale{ProductID: id, Name: "other", Stock: 1, Listed: 1},
		[]schema.OrderState{{OrderNo: no(9), UserID: 9, Quantity: 1}}, 90, 0); err != nil || again {
		t.Fatalf("second restore = %t, %v; want nothing done", again, err)
	}
	if st, err := schema.ReadSaleState(ctx, rdb, id); err != nil || st.Stock != 8 || st.Listed != 10 || len(st.Orders) != 3 {
		t.Fatalf("after the second restore: %+v (%v), want the first one's sale", st, err)
	}
	if r, _ := schema.Reserve(ctx, rdb, id, 1, 1, uuid.NewString(), time.Now()); r.Outcome != schema.AlreadyBought || r.OrderNo != no(1) {
		t.Fatalf("buyer with a paid order = %+v", r)
	}
	r, _ := schema.Reserve(ctx, rdb, id, 2, 1, uuid.NewString(), time.Now())
	if r.Outcome != schema.Reserved || r.OrderNo != no(8) {
		t.Fatalf("buyer with a cancelled order = %+v, want a new order %s", r, no(8))
	}
	if _, err := schema.ReadSaleState(ctx, rdb, id+1_000_000); !errors.Is(err, schema.ErrNoSale) {
		t.Fatalf("sale state of an unknown product: %v, want ErrNoSale", err)
	}
	if r.EventSeq != 40+schema.EventSeqMargin+1 {
		t.Fatalf("first event after the restore has seq %d, want %d", r.EventSeq, 40+schema.EventSeqMargin+1)
	}
	// The audit counts one event MySQL has not applied: the 38 applied plus the numbers skipped leave one.
	st, err := schema.ReadSaleState(ctx, rdb, id)
	if err != nil || st.EventSeq-38 != 1 {
		t.Fatalf("sale state %+v (%v): want 1 event pending", st, err)
	}
	if s, _ := schema.Settle(ctx, rdb, id, no(3), schema.Paid, uuid.NewString(), time.Now()); s.Outcome != schema.Settled {
		t.Fatalf("paying a restored order = %+v", s)
	}
}

// TestOutboxEntriesOfTheFirstReleaseStillDecode: entries appended by the first release's scripts (no seq, no
// stock, name, price or quantity on settlements) are still read, as first-release events.
func TestOutboxEntriesOfTheFirstReleaseStillDecode(t *testing.T) {
	rdb := schematest.Redis(t)
	ctx := context.Background()
	id := loadSale(t, 3, nil, nil)
	k := schema.KeysFor(id)
	for _, fields := range [][]any{
		{"type", "SeckillReserved", "id", "a", "order", "SK1-1", "user", "7", "product", id, "qty", "1", "before", "3",
			"after", "2", "at", "1700000000000", "name", "x", "price", "100"},
		{"type", "SeckillOrderPaid", "id", "b", "order", "SK1-1", "user", "7", "product", id, "at", "1700000000001"},
		{"type", "SeckillOrderCancelled", "id", "c", "order", "SK1-2", "user", "8", "product", id, "qty", "1",
			"reason", "user", "at", "1700000000002"},
	} {
		if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: k.Outbox, Values: fields}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := schema.ReadOutbox(ctx, rdb, id, time.Now().Add(time.Minute), 10)
	if err != nil || len(entries) != 3 {
		t.Fatalf("read %d entries: %v", len(entries), err)
	}
	r := entries[0].Event.(*events.SeckillReserved)
	p := entries[1].Event.(*events.SeckillOrderPaid)
	c := entries[2].Event.(*events.SeckillOrderCancelled)
	if r.Seq != 0 || r.StockAfter != 2 || p.Seq != 0 || p.Quantity != 0 || c.Seq != 0 || c.Quantity != 1 ||
		c.StockAfter != 0 || c.ProductName != "" {
		t.Fatalf("first-release entries decoded as %+v %+v %+v", r, p, c)
	}
}
