package projections_test

import (
	"context"
	"database/sql"
	"maps"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/seckill/seckill/events"
	"github.com/seckill/seckill/projections"
	"github.com/seckill/seckill/projections/projectionstest"
	"github.com/seckill/seckill/schema"
	"github.com/seckill/seckill/schema/schematest"
)

// history builds a sale as Redis would decide it: buyers reserve while stock lasts, and cancel (units freed go to
// other buyers, and a buyer who cancelled often buys again), pay, or let the payment timeout cancel. It returns the
// events in the order Redis decided them, the listing first.
func history(rng *rand.Rand, id, stock int64, steps int) []events.Event {
	sale := projectionstest.NewSale(id, stock)
	all := []events.Event{sale.Listed}
	live := map[int64]*events.SeckillReserved{} // buyer -> order awaiting payment
	paid := map[int64]bool{}
	for range steps {
		switch n := rng.IntN(10); {
		case n < 5 && sale.Stock() > 0:
			user := int64(1 + rng.IntN(int(stock)*2))
			if live[user] != nil || paid[user] {
				continue
			}
			r := sale.Reserve(user)
			live[user] = r
			all = append(all, r)
		case n < 9 && len(live) > 0:
			var user int64
			for u := range live { // any awaiting order
				user = u
				break
			}
			r := live[user]
			delete(live, user)
			switch rng.IntN(3) {
			case 0:
				all = append(all, sale.Cancel(r, events.ReasonUser))
			case 1:
				all = append(all, sale.Cancel(r, events.ReasonPaymentTimeout))
			default:
				paid[user] = true
				all = append(all, sale.Pay(r))
			}
		}
	}
	return all
}

// arrival shuffles the events after the listing and delivers about a fifth of them a second time, anywhere.
func arrival(rng *rand.Rand, h []events.Event) []events.Event {
	out := append([]events.Event{}, h[1:]...)
	for range len(out) / 5 {
		out = append(out, out[rng.IntN(len(out))])
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return append([]events.Event{h[0]}, out...)
}

func resetTables(t *testing.T, db *sql.DB) {
	t.Helper()
	for _, table := range append([]string{schema.EventTable}, schema.Tables...) {
		if _, err := db.Exec("TRUNCATE TABLE " + table); err != nil {
			t.Fatal(err)
		}
	}
}

func requireStockNotNegative(t *testing.T, db *sql.DB, id int64) {
	t.Helper()
	if n := count(t, db, `SELECT stock FROM tb_seckill_product WHERE id = ?`, id); n < 0 {
		t.Fatalf("stock %d", n)
	}
}

// TestAnyArrivalOrderGivesTheSameTables is the engine's proof of order-independence: a randomized sale (reused
// units, cancel and buy again, payments, timeouts) applied in many shuffled orders with duplicates, through the
// live paths (Record one event at a time, RecordBatch in batches of random size, a Batcher fed by concurrent
// callers) and the bulk path of seckill replay (Apply in random chunks, no tb_event), always gives the tables of
// the history applied in order, and no stock is ever negative on the way. No event is rejected.
func TestAnyArrivalOrderGivesTheSameTables(t *testing.T) {
	const id = 11
	ctx := context.Background()
	reference, db := schematest.MySQL(t).DB, schematest.MySQL(t).DB
	for seed := range uint64(6) {
		rng := rand.New(rand.NewPCG(seed, 42))
		h := history(rng, id, int64(5+rng.IntN(20)), 150)
		resetTables(t, reference)
		ref := newStore(t, reference)
		for _, e := range h {
			record(t, ref, e, projections.Applied)
		}
		projectionstest.RequireInvariants(t, reference, id)
		want := projectionstest.Checksums(t, reference)

		paths := map[string]func(t *testing.T, es []events.Event){
			"record": func(t *testing.T, es []events.Event) {
				s := newStore(t, db)
				for _, e := range es {
					if out, err := s.Record(ctx, e); err != nil || out == projections.Rejected {
						t.Fatalf("record %s %s: %s, %v", e.EventType(), e.Aggregate(), out, err)
					}
					requireStockNotNegative(t, db, id)
				}
			},
			"record batch": func(t *testing.T, es []events.Event) {
				s := newStore(t, db)
				for start := 0; start < len(es); {
					end := min(len(es), start+1+rng.IntN(40))
					for i, r := range s.RecordBatch(ctx, es[start:end]) {
						if r.Err != nil || r.Outcome == projections.Rejected {
							t.Fatalf("record %s: %s, %v", es[start+i].Aggregate(), r.Outcome, r.Err)
						}
					}
					requireStockNotNegative(t, db, id)
					start = end
				}
			},
			"batcher": func(t *testing.T, es []events.Event) {
				s := newStore(t, db)
				record(t, s, es[0], projections.Applied)
				b, err := projections.NewBatcher(s, projections.BatcherConfig{MaxBatch: 16})
				if err != nil {
					t.Fatal(err)
				}
				defer b.Close()
				next := make(chan events.Event)
				var wg sync.WaitGroup
				for range 4 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for e := range next {
							if out, err := b.Record(ctx, e); err != nil || out == projections.Rejected {
								t.Errorf("record %s: %s, %v", e.Aggregate(), out, err)
							}
						}
					}()
				}
				for _, e := range es[1:] {
					next <- e
				}
				close(next)
				wg.Wait()
			},
			"replay": func(t *testing.T, es []events.Event) {
				seen := map[string]bool{}
				var unique []events.Event // tb_event holds each event once
				for _, e := range es {
					if !seen[e.ID()] {
						seen[e.ID()] = true
						unique = append(unique, e)
					}
				}
				for start := 0; start < len(unique); {
					end := min(len(unique), start+1+rng.IntN(60))
					applyInChunks(t, db, unique[start:end], end-start)
					requireStockNotNegative(t, db, id)
					start = end
				}
			},
		}
		for name, apply := range paths {
			for round := range 3 {
				resetTables(t, db)
				apply(t, arrival(rng, h))
				if t.Failed() {
					t.FailNow()
				}
				if got := projectionstest.Checksums(t, db); !maps.Equal(got, want) {
					t.Fatalf("seed %d, %s round %d: tables differ from the history in order\n%v\n%v", seed, name,
						round, got, want)
				}
			}
		}
	}
}

// TestFirstReleasePayloads: events without seq (an old tb_event, or in flight at the upgrade) still apply. In
// order they give the first release's tables (stock as a running delta, rollback logs from it); in any order the
// stock is never negative and every table but the stock log equals the in-order one (a first-release
// cancellation carries no Redis stock, so its rollback log follows arrival order, as the first release's did).
// A sequenced event applied after them takes over the stock, which already counts them.
func TestFirstReleasePayloads(t *testing.T) {
	const id = 12
	rng := rand.New(rand.NewPCG(7, 7))
	h := history(rng, id, 100, 120)
	legacy := make([]events.Event, len(h))
	for i, e := range h {
		legacy[i] = projectionstest.FirstRelease(e)
	}
	inOrder, db := schematest.MySQL(t).DB, schematest.MySQL(t).DB
	s := newStore(t, inOrder)
	for _, e := range legacy {
		record(t, s, e, projections.Applied)
	}
	projectionstest.RequireInvariants(t, inOrder, id)
	want := projectionstest.Checksums(t, inOrder)
	for round := range 4 {
		resetTables(t, db)
		s := newStore(t, db)
		for _, e := range arrival(rng, legacy) {
			if _, err := s.Record(context.Background(), e); err != nil {
				t.Fatal(err)
			}
			requireStockNotNegative(t, db, id)
		}
		got := projectionstest.Checksums(t, db)
		for _, table := range []string{"tb_seckill_product", "tb_seckill_order", "tb_user_seckill"} {
			if got[table] != want[table] {
				t.Fatalf("round %d: %s differs from the in-order one", round, table)
			}
		}
	}
	// The upgrade: the next event is sequenced and its stockAfter is the stock.
	last := h[len(h)-1]
	var seq int64
	switch v := last.(type) {
	case *events.SeckillReserved:
		seq = v.Seq
	case *events.SeckillOrderPaid:
		seq = v.Seq
	case *events.SeckillOrderCancelled:
		seq = v.Seq
	}
	stock := int64(count(t, inOrder, `SELECT stock FROM tb_seckill_product WHERE id = ?`, id))
	if stock == 0 {
		t.Fatal("the generated sale sold out: no reservation can follow it")
	}
	next := &events.SeckillReserved{EventID: "00000000-0000-4000-8000-000000000001", OrderNo: "SK12-99999999",
		UserID: 99999, ProductID: id, ProductName: "iPhone 15 Pro", Price: 699900, Quantity: 1, StockBefore: stock,
		StockAfter: stock - 1, ReservedAt: projectionstest.Epoch, Seq: seq + 1}
	record(t, s, next, projections.Applied)
	projectionstest.RequireInvariants(t, inOrder, id)
}
