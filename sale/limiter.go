package sale

import (
	"sync"
	"time"
)

// limiter is a per-buyer token bucket: rate tokens per second, up to burst. It is safe for concurrent use; buckets
// live in 64 shards so buyers rarely contend, and full buckets are dropped by sweep.
type limiter struct {
	rate   float64
	burst  float64
	shards [64]limiterShard
}

type limiterShard struct {
	mu      sync.Mutex
	buckets map[int64]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(rate float64, burst int) *limiter {
	l := &limiter{rate: rate, burst: float64(burst)}
	for i := range l.shards {
		l.shards[i].buckets = map[int64]*bucket{}
	}
	return l
}

// allow takes one token of the buyer's bucket and reports whether there was one.
func (l *limiter) allow(userID int64, now time.Time) bool {
	sh := &l.shards[uint64(userID)%uint64(len(l.shards))]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	b, ok := sh.buckets[userID]
	if !ok {
		sh.buckets[userID] = &bucket{tokens: l.burst - 1, last: now}
		return true
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// sweep drops the buckets that have refilled completely: they behave exactly like absent ones.
func (l *limiter) sweep(now time.Time) {
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		for id, b := range sh.buckets {
			if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
				delete(sh.buckets, id)
			}
		}
		sh.mu.Unlock()
	}
}
