package schema

import (
	"context"
	"fmt"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Reserver reserves for the concurrent buyers of one product together (group commit): while a reserve.lua call
// for a product is in flight, the buyers who arrive for it wait, and the next call carries all of them, up to
// MaxReserveAll. A buyer who finds no call in flight is sent at once; nothing waits for a timer. Inside the one
// atomic script run every buyer is still decided on its own, in the order of arrival, exactly as Reserve would
// decide it (ReserveAll), and each gets its own result. Products never wait for each other: each has its own
// queue and at most one call in flight. Safe for concurrent use.
type Reserver struct {
	rdb     redis.Scripter
	observe func(buyers int)
	mu      sync.Mutex
	queues  map[int64]*reserveQueue // products with a call in flight; guarded by mu
}

// NewReserver returns a Reserver running reserve.lua on rdb. observe, if not nil, is told how many buyers each call
// carries (a metric); it is called from the goroutine sending the call and must not block.
func NewReserver(rdb redis.Scripter, observe func(buyers int)) *Reserver {
	return &Reserver{rdb: rdb, observe: observe, queues: map[int64]*reserveQueue{}}
}

// reserveQueue is one product's buyers waiting for the call in flight to come back.
type reserveQueue struct {
	waiting []*reserveCall
}

// reserveCall is one buyer's Reserve; done is closed once res or err is set.
type reserveCall struct {
	ctx  context.Context
	req  ReserveRequest
	res  ReserveResult
	err  error
	done chan struct{}
}

// Reserve decides one buyer's reservation of a product, in the next reserve.lua call for the product. A call whose
// ctx ends while it waits for its turn is dropped unsent, with an error wrapping ErrScriptNotRun; once sent, it
// waits for the reply whatever its ctx (rdb's timeouts bound it), so that the buyer is told what was decided. A
// failed call fails every buyer it carried with the same error, which ScriptCallError classifies.
func (r *Reserver) Reserve(ctx context.Context, productID int64, req ReserveRequest) (ReserveResult, error) {
	c := &reserveCall{ctx: ctx, req: req, done: make(chan struct{})}
	r.mu.Lock()
	q, flying := r.queues[productID]
	if !flying {
		q = &reserveQueue{}
		r.queues[productID] = q
	}
	q.waiting = append(q.waiting, c)
	var batch []*reserveCall
	if !flying {
		batch = r.next(productID, q)
	}
	r.mu.Unlock()
	if batch != nil {
		r.send(productID, q, batch)
	}
	<-c.done
	return c.res, c.err
}

// next takes the buyers of q's next call (nil when none is waiting, and then the product has no call in flight),
// dropping those whose context ended. The caller holds r.mu.
func (r *Reserver) next(productID int64, q *reserveQueue) []*reserveCall {
	for len(q.waiting) > 0 {
		batch := q.waiting
		if len(batch) > MaxReserveAll {
			batch = batch[:MaxReserveAll:MaxReserveAll]
		}
		q.waiting = q.waiting[len(batch):]
		live := batch[:0]
		for _, c := range batch {
			if err := c.ctx.Err(); err != nil {
				c.err = fmt.Errorf("%w: reserve product %d for user %d: gave up waiting for its turn: %w",
					ErrScriptNotRun, productID, c.req.UserID, err)
				close(c.done)
				continue
			}
			live = append(live, c)
		}
		if len(live) > 0 {
			return live
		}
	}
	delete(r.queues, productID)
	return nil
}

// send runs one reserve.lua call for batch, answers its buyers, and hands the buyers who arrived meanwhile to a
// new goroutine's call, so that the caller returns with its own answer.
func (r *Reserver) send(productID int64, q *reserveQueue, batch []*reserveCall) {
	if r.observe != nil {
		r.observe(len(batch))
	}
	reqs := make([]ReserveRequest, len(batch))
	for i, c := range batch {
		reqs[i] = c.req
	}
	// The call is every buyer's: one buyer hanging up must not cancel it for the others.
	res, err := ReserveAll(context.WithoutCancel(batch[0].ctx), r.rdb, productID, reqs)
	for i, c := range batch {
		if err != nil {
			c.err = err
		} else {
			c.res = res[i]
		}
		close(c.done)
	}
	r.mu.Lock()
	next := r.next(productID, q)
	r.mu.Unlock()
	if next != nil {
		go r.send(productID, q, next)
	}
}
