package sale

import "sync"

// byProduct is a map keyed by product id, for the buy path's caches. Safe for concurrent use; get takes a read
// lock and allocates nothing.
type byProduct[V any] struct {
	mu sync.RWMutex
	m  map[int64]V
}

func (b *byProduct[V]) get(productID int64) (V, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	v, ok := b.m[productID]
	return v, ok
}

// update stores f's answer for the product; f gets the value held (ok false when there is none) and runs under
// the write lock.
func (b *byProduct[V]) update(productID int64, f func(old V, ok bool) V) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[int64]V{}
	}
	old, ok := b.m[productID]
	b.m[productID] = f(old, ok)
}

func (b *byProduct[V]) put(productID int64, v V) {
	b.update(productID, func(V, bool) V { return v })
}

func (b *byProduct[V]) delete(productID int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.m, productID)
}
