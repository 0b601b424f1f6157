package sale

import "time"

// soldOut remembers, per product, until when requests are answered "sold out" without calling Redis, and the
// answer itself, built once. An entry expires after ttl, so a product whose stock came back through another
// instance is noticed within ttl; a cancellation through this instance clears it at once. Safe for concurrent
// use; the hot path (known) takes a read lock and allocates nothing.
type soldOut struct {
	ttl     time.Duration
	entries byProduct[soldOutEntry]
}

type soldOutEntry struct {
	until int64 // unix nano
	err   error // ErrSoldOut naming the product; never changed once built
}

// known returns the product's sold-out answer while the entry lasts, nil otherwise.
func (s *soldOut) known(productID int64, now time.Time) error {
	if e, ok := s.entries.get(productID); ok && now.UnixNano() < e.until {
		return e.err
	}
	return nil
}

func (s *soldOut) mark(productID int64, now time.Time) {
	s.entries.update(productID, func(e soldOutEntry, ok bool) soldOutEntry {
		if !ok {
			e.err = fail(ErrSoldOut, "product %d is sold out", productID)
		}
		e.until = now.Add(s.ttl).UnixNano()
		return e
	})
}

func (s *soldOut) clear(productID int64) { s.entries.delete(productID) }
