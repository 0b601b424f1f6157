package projections_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/seckill/seckill/events"
	"github.com/seckill/seckill/projections"
	"github.com/seckill/seckill/projections/projectionstest"
	"github.com/seckill/seckill/schema/schematest"
)

// BenchmarkRecordReserved records SeckillReserved events into MariaDB: one transaction per event, batches of a
// fixed size, and a Batcher fed by 4 concurrent callers (one per RocketMQ queue, as the router delivers them) or
// more.
// Run: go test ./projections -run '^$' -bench RecordReserved -benchtime 5000x
func BenchmarkRecordReserved(b *testing.B) {
	setup := func(b *testing.B) (*projections.Store, []events.Event) {
		db := schematest.MySQL(b).DB
		s := newStore(b, db)
		sale := projectionstest.NewSale(1, int64(b.N)+1)
		record(b, s, sale.Listed, projections.Applied)
		return s, sale.Reservations(1, b.N)
	}
	report := func(b *testing.B) {
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	}
	b.Run("single", func(b *testing.B) {
		s, es := setup(b)
		b.ResetTimer()
		for _, e := range es {
			if _, err := s.Record(context.Background(), e); err != nil {
				b.Fatal(err)
			}
		}
		report(b)
	})
	b.Run("batch64", func(b *testing.B) {
		s, es := setup(b)
		b.ResetTimer()
		for start := 0; start < len(es); start += 64 {
			for _, r := range s.RecordBatch(context.Background(), es[start:min(start+64, len(es))]) {
				if r.Err != nil {
					b.Fatal(r.Err)
				}
			}
		}
		report(b)
	})
	// A sale's mix, as the consumers see it: of every 5 reservations 3 are paid and 1 cancelled, 20 events later.
	b.Run("batch64mixed", func(b *testing.B) {
		db := schematest.MySQL(b).DB
		s := newStore(b, db)
		sale := projectionstest.NewSale(1, int64(b.N)+1)
		record(b, s, sale.Listed, projections.Applied)
		var es []events.Event
		var rs []*events.SeckillReserved
		for len(es) < b.N {
			r := sale.Reserve(int64(len(rs) + 1))
			rs, es = append(rs, r), append(es, r)
			if k := len(rs) - 20; k >= 0 && len(es) < b.N {
				switch k % 5 {
				case 0, 1, 2:
					es = append(es, sale.Pay(rs[k]))
				case 3:
					es = append(es, sale.Cancel(rs[k], events.ReasonUser))
				}
			}
		}
		b.ResetTimer()
		for start := 0; start < len(es); start += 64 {
			for _, r := range s.RecordBatch(context.Background(), es[start:min(start+64, len(es))]) {
				if r.Err != nil {
					b.Fatal(r.Err)
				}
			}
		}
		report(b)
	})
	for name, c := range map[string]struct {
		callers int
		wait    time.Duration
	}{"batcher4": {4, 0}, "batcher4wait1ms": {4, time.Millisecond}, "batcher16": {16, 0}, "batcher64": {64, 0}} {
		callers := c.callers
		b.Run(name, func(b *testing.B) {
			s, es := setup(b)
			bt, err := projections.NewBatcher(s, projections.BatcherConfig{MaxWait: c.wait})
			if err != nil {
				b.Fatal(err)
			}
			defer bt.Close()
			next := make(chan events.Event)
			var wg sync.WaitGroup
			b.ResetTimer()
			for range callers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for e := range next {
						if _, err := bt.Record(context.Background(), e); err != nil {
							b.Error(err)
						}
					}
				}()
			}
			for _, e := range es {
				next <- e
			}
			close(next)
			wg.Wait()
			report(b)
		})
	}
}
