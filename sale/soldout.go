package sale

import (
	"sync"
	"time"
)

// soldOut remembers, per product, until when requests are answered "sold out" without calling Redis. An entry
// expires after ttl, so a product whose stock came back through another instance is noticed within ttl; a
// cancellation through this instance clears it at once. Safe for concurrent use.
type soldOut struct {
	ttl   time.Duration
	until sync.Map // int64 product id -> int64 unix nano
}

func (s *soldOut) known(productID int64, now time.Time) bool {
	v, ok := s.until.Load(productID)
	return ok && now.UnixNano() < v.(int64)
}

func (s *soldOut) mark(productID int64, now time.Time) {
	s.until.Store(productID, now.Add(s.ttl).UnixNano())
}

func (s *soldOut) clear(productID int64) { s.until.Delete(productID) }
