package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/seckill/seckill/benchreport"
)

// sampleEvery is the tick of a bench report's charts.
const sampleEvery = 100 * time.Millisecond

// sampler records a running bench every tick: the answers received since the previous tick (by code, with their
// latency percentiles) and, when stock is set, the product's stock in Redis and MySQL at the end of the tick.
// It reads rec under rec's lock and nothing else of the bench; Stop ends it once and returns the samples.
type sampler struct {
	rec   *recorder
	stock func(context.Context) (redis, mysql, orders int64, err error)
	start time.Time

	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
	samples []benchreport.Sample

	seen      int
	lastCodes map[int]int
	lastErrs  int
	lastAt    time.Time
}

// sampler starts sampling when -report asks for it; the nil sampler it returns otherwise does nothing.
func (o benchOptions) sampler(ctx context.Context, rec *recorder, start time.Time, stock func(context.Context) (int64, int64, int64, error)) *sampler {
	if o.Report == "" {
		return nil
	}
	s := &sampler{rec: rec, stock: stock, start: start, stop: make(chan struct{}), done: make(chan struct{}),
		lastCodes: map[int]int{}, lastAt: start}
	s.sample(ctx) // the stock before the first answer
	go func() {
		defer close(s.done)
		t := time.NewTicker(sampleEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-s.stop:
				s.sample(ctx)
				return
			case <-t.C:
				s.sample(ctx)
			}
		}
	}()
	return s
}

func (s *sampler) sample(ctx context.Context) {
	s.rec.mu.Lock()
	lat := slices.Clone(s.rec.latencies[s.seen:])
	s.seen = len(s.rec.latencies)
	codes := map[int]int{}
	for c, n := range s.rec.codes {
		if d := n - s.lastCodes[c]; d > 0 {
			codes[c] = d
		}
		s.lastCodes[c] = n
	}
	if d := s.rec.errors - s.lastErrs; d > 0 {
		codes[0] = d
	}
	s.lastErrs = s.rec.errors
	s.rec.mu.Unlock()

	now := time.Now()
	smp := benchreport.Sample{At: now.Sub(s.start).Seconds(), Seconds: now.Sub(s.lastAt).Seconds(), Codes: codes}
	s.lastAt = now
	smp.P50, smp.P90, smp.P99, smp.Max = benchreport.Percentiles(lat)
	if s.stock != nil {
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		if redis, mysql, orders, err := s.stock(sctx); err == nil {
			smp.Redis, smp.MySQL, smp.OrdersSQL = &redis, &mysql, &orders
		}
		cancel()
	}
	s.samples = append(s.samples, smp)
}

// Stop takes a last sample and returns them all; on a nil sampler it returns nil.
func (s *sampler) Stop() []benchreport.Sample {
	if s == nil {
		return nil
	}
	s.once.Do(func() { close(s.stop) })
	<-s.done
	return s.samples
}

// auditStock reads the product's stock in Redis and MySQL, and its orders in MySQL, from the admin audit endpoint.
func auditStock(client *http.Client, base, token string, product int64) func(context.Context) (int64, int64, int64, error) {
	return func(ctx context.Context) (int64, int64, int64, error) {
		var a struct {
			Code int
			Data struct{ RedisStock, MySQLStock, Orders int64 }
		}
		if err := adminCall(ctx, client, http.MethodGet, fmt.Sprintf("%s/admin/products/%d/audit", base, product), token, "", &a); err != nil {
			return 0, 0, 0, err
		}
		if a.Code != http.StatusOK {
			return 0, 0, 0, fmt.Errorf("audit of product %d: %d", product, a.Code)
		}
		return a.Data.RedisStock, a.Data.MySQLStock, a.Data.Orders, nil
	}
}

// writeReport writes the -report page of a finished bench.
func writeReport(name string, o benchOptions, r BenchReport, started time.Time) error {
	title := "seckill bench: sale of product " + fmt.Sprint(r.ProductID)
	if r.Mode != "sale" {
		title = "seckill bench: " + r.Mode
	}
	return benchreport.WriteFile(name, benchreport.Run{Title: title, Started: started, Mode: r.Mode, URL: o.URL,
		ProductID: r.ProductID, Stock: r.Stock, Requests: r.Requests, Conns: r.Conns, Rate: r.Rate, Seconds: r.Seconds,
		RPS: r.RPS, LatencyMs: r.LatencyMs, Codes: r.Codes, Errors: r.Errors, SoldOutAfter: r.SoldOutAfter,
		DrainedAfter: r.DrainedAfter, InvariantsOK: r.InvariantsOK, Invariants: r.Invariants, Samples: r.Samples})
}
