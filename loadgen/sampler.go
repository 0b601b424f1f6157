package loadgen

import (
	"context"
	"sync"
	"time"

	"github.com/seckill/seckill/benchreport"
)

// sampleEvery is the tick of a bench report's charts.
const sampleEvery = 100 * time.Millisecond

// sampler records a running sale every tick: the answers received since the previous tick (by code, with their
// latency percentiles) and, when stock is set, the product's stock in Redis and MySQL at the end of the tick.
// It reads the recorder under its lock and nothing else of the run; Stop ends it once and returns the samples.
type sampler struct {
	rec   *Recorder
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

func startSampler(ctx context.Context, rec *Recorder, start time.Time, stock func(context.Context) (int64, int64, int64, error)) *sampler {
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
	lat, total, errs := s.rec.since(s.seen)
	s.seen += len(lat)
	codes := map[int]int{}
	for c, n := range total {
		if d := n - s.lastCodes[c]; d > 0 {
			codes[c] = d
		}
		s.lastCodes[c] = n
	}
	if d := errs - s.lastErrs; d > 0 {
		codes[0] = d
	}
	s.lastErrs = errs

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
