// Package histgen generates the event history of a flash sale: consistent (what the Redis scripts would have
// decided), deterministic for a seed, and as long as asked. The replay tests and benchmarks build their tb_event
// with it, and seckill replay --generate writes one for a benchmark; no request path uses it.
package histgen

import (
	"container/heap"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"

	"github.com/seckill/seckill/events"
	"github.com/seckill/seckill/eventstore"
	"github.com/seckill/seckill/handlers"
)

// Options describes a generated sale history. Zero Products, Seed and Start take defaults; zero shares
// mean no payment and no cancellation.
type Options struct {
	// Events is the number of events of the history, ProductListed included. Required.
	Events int
	// Products is the number of products listed at Start, before any reservation. Defaults to DefaultProducts.
	Products int
	// PayShare is the share of reservations paid later (2 s to 5 min after).
	PayShare float64
	// CancelShare is the share of reservations cancelled, split evenly between reason "user" (1 s to 5 min
	// after; half of those buyers buy the same product again) and "payment_timeout" (15 min after).
	// PayShare + CancelShare must not exceed 1; the remainder stays awaiting payment.
	CancelShare float64
	// Seed makes the history reproducible: equal options give equal events, event ids included. Defaults to 1.
	Seed uint64
	// Start is the time of the listings; reservations open one second later at 10 per millisecond.
	// Defaults to 2026-11-23T20:00:00Z.
	Start time.Time
}

// DefaultProducts is the default Options.Products.
const DefaultProducts = 10

// DefaultStart is the default Options.Start.
var DefaultStart = time.Date(2026, 11, 23, 20, 0, 0, 0, time.UTC)

func (o *Options) setDefaults() {
	if o.Products == 0 {
		o.Products = DefaultProducts
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Start.IsZero() {
		o.Start = DefaultStart
	}
}

// Validate reports the first invalid field.
func (o Options) Validate() error {
	switch {
	case o.Events < 1:
		return errors.New("generate: Events must be positive")
	case o.Products < 1 || o.Products > o.Events:
		return fmt.Errorf("generate: Products must be from 1 to Events (%d)", o.Events)
	case o.PayShare < 0 || o.CancelShare < 0 || o.PayShare+o.CancelShare > 1:
		return errors.New("generate: PayShare and CancelShare must be non-negative and sum to at most 1")
	}
	return nil
}

// History returns the events of a flash sale, in the order the live consumers would record them: every product
// listed, then a burst of reservations with interleaved payments and cancellations, then the remaining payments
// and payment timeouts. The history is consistent: a reservation's StockBefore and StockAfter are the Redis stock
// around it and every reservation, payment and cancellation carries its product's next event sequence number (as
// the Redis scripts stamp them), a buyer never holds two live orders of a product, payments and cancellations
// follow their reservation, and nothing is reserved beyond the stock. Each call starts a fresh, deterministic generator.
func History(opts Options) (iter.Seq[events.Event], error) {
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	return func(yield func(events.Event) bool) {
		g := newGenerator(opts)
		for n := 0; n < opts.Events; n++ {
			if !yield(g.next()) {
				return
			}
		}
	}, nil
}

// Generate writes History(opts) into the tb_event of db (eventstore.AppendBackdated: recorded_at = occurred_at),
// and returns the number of events written. The event store must be empty, so a generated history never mixes
// with a real one; the projection tables are not touched (seckill replay builds them). It is not safe to run
// twice at once on one database.
func Generate(ctx context.Context, db *sql.DB, opts Options) (int, error) {
	hist, err := History(opts)
	if err != nil {
		return 0, err
	}
	switch empty, err := eventstore.Empty(ctx, db); {
	case err != nil:
		return 0, fmt.Errorf("generate: %w", err)
	case !empty:
		return 0, errors.New("generate: tb_event is not empty; generate into a fresh database")
	}
	const perAppend = 2000
	batch := make([]events.Event, 0, perAppend)
	written := 0
	flush := func() error {
		n, err := eventstore.AppendBackdated(ctx, db, batch)
		if err == nil && int(n) != len(batch) {
			err = fmt.Errorf("%d of %d event ids already recorded", len(batch)-int(n), len(batch))
		}
		if err != nil {
			return fmt.Errorf("generate: insert events %d..%d: %w", written+1, written+len(batch), err)
		}
		written += len(batch)
		batch = batch[:0]
		return nil
	}
	for e := range hist {
		batch = append(batch, e)
		if len(batch) == perAppend {
			if err := flush(); err != nil {
				return written, err
			}
		}
	}
	if err := flush(); err != nil {
		return written, err
	}
	return written, nil
}

// Timing of the generated sale.
const (
	arrivalGap    = 100 * time.Microsecond // 10 reservations per millisecond
	maxFollowUp   = 5 * time.Minute
	minPay        = 2 * time.Second
	minUserCancel = time.Second
)

type genProduct struct {
	listed *events.ProductListed
	stock  int64
	seq    int64   // the product's event sequence
	rebuy  []int64 // buyers who cancelled and buy again
}

type genOrder struct {
	r *events.SeckillReserved
}

// followUp is a payment or a cancellation scheduled after its reservation.
type followUp struct {
	at    time.Time
	n     int // insertion order breaks ties, so equal times keep their scheduling order
	order *genOrder
	kind  string // events.TypeSeckillOrderPaid or a cancellation reason
}

type followUps []followUp

func (h followUps) Len() int { return len(h) }
func (h followUps) Less(i, j int) bool {
	return h[i].at.Before(h[j].at) || h[i].at.Equal(h[j].at) && h[i].n < h[j].n
}
func (h followUps) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *followUps) Push(x any)   { *h = append(*h, x.(followUp)) }
func (h *followUps) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// generator is a discrete-event simulation of a sale: reservation arrivals at a fixed rate up to a budget, and
// a queue of follow-ups released in time order between them.
type generator struct {
	opts      Options
	rng       *rand.Rand
	ids       *rand.ChaCha8
	products  []*genProduct
	queue     followUps
	scheduled int
	clock     time.Time // time of the next arrival
	budget    int       // reservations still to arrive before the queue drains
	perArrive float64   // events per arrival on average
	orders    int
	users     int64
	pending   []events.Event // events decided but not yet returned (listings)
}

func newGenerator(o Options) *generator {
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], o.Seed)
	g := &generator{opts: o, ids: rand.NewChaCha8(seed), rng: rand.New(rand.NewPCG(o.Seed, o.Seed^0x5eed)),
		clock: o.Start.Add(time.Second), perArrive: 1 + o.PayShare + o.CancelShare}
	g.budget = int(float64(o.Events-o.Products)/g.perArrive) + 1
	// A little less stock than reservations: the sale sells out and later buyers take what cancellations return.
	stock := max(1, int64(float64(g.budget)*0.95)/int64(o.Products))
	for i := range o.Products {
		g.pending = append(g.pending, g.list(int64(i+1), stock, o.Start))
	}
	return g
}

func (g *generator) uuid() string {
	id, err := uuid.NewRandomFromReader(g.ids)
	if err != nil {
		panic(err) // ChaCha8 reads never fail
	}
	return id.String()
}

func (g *generator) list(id, stock int64, at time.Time) *events.ProductListed {
	e := &events.ProductListed{EventID: g.uuid(), ProductID: id, Name: fmt.Sprintf("Flash item %d", id),
		Price: events.Money(99900 + 10000*(id%50)), Stock: stock, ListedAt: at}
	g.products = append(g.products, &genProduct{listed: e, stock: stock})
	return e
}

func (g *generator) schedule(at time.Time, o *genOrder, kind string) {
	g.scheduled++
	heap.Push(&g.queue, followUp{at: at, n: g.scheduled, order: o, kind: kind})
}

func (g *generator) between(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(g.rng.Int64N(int64(hi-lo)))
}

// next returns the next event of the history; it never runs dry.
func (g *generator) next() events.Event {
	if len(g.pending) > 0 {
		e := g.pending[0]
		g.pending = g.pending[1:]
		return e
	}
	for {
		if g.budget > 0 {
			if p := g.inStock(); p != nil {
				if len(g.queue) > 0 && !g.queue[0].at.After(g.clock) {
					return g.release()
				}
				at := g.clock
				g.clock = g.clock.Add(arrivalGap)
				g.budget--
				return g.arrive(p, at)
			}
		}
		if len(g.queue) > 0 {
			return g.release()
		}
		// Nothing left to follow up: open more arrivals, listing a new product if everything is sold out.
		g.budget = max(g.budget, 1+g.opts.Events/100)
		if g.inStock() == nil {
			return g.list(int64(len(g.products)+1), int64(g.budget), g.clock)
		}
	}
}

// inStock returns a random product with Redis stock left, or nil.
func (g *generator) inStock() *genProduct {
	start := g.rng.IntN(len(g.products))
	for i := range g.products {
		if p := g.products[(start+i)%len(g.products)]; p.stock > 0 {
			return p
		}
	}
	return nil
}

// arrive reserves one unit of p at time at, and schedules what becomes of the order.
func (g *generator) arrive(p *genProduct, at time.Time) events.Event {
	// u picks the order's fate: [0, pay) paid, then user cancel and payment timeout by CancelShare.
	u := g.rng.Float64()
	userCancel := g.opts.PayShare + g.opts.CancelShare/2
	timeout := g.opts.PayShare + g.opts.CancelShare
	var user int64
	if n := len(p.rebuy); n > 0 {
		user, p.rebuy = p.rebuy[n-1], p.rebuy[:n-1]
	} else {
		g.users++
		user = 1_000_000 + g.users
	}
	g.orders++
	p.stock--
	p.seq++
	r := &events.SeckillReserved{EventID: g.uuid(), OrderNo: fmt.Sprintf("SK%d-%08d", p.listed.ProductID, g.orders),
		UserID: user, ProductID: p.listed.ProductID, ProductName: p.listed.Name, Price: p.listed.Price, Quantity: 1,
		StockBefore: p.stock + 1, StockAfter: p.stock, ReservedAt: at, Seq: p.seq}
	o := &genOrder{r: r}
	switch {
	case u < g.opts.PayShare:
		g.schedule(at.Add(g.between(minPay, maxFollowUp)), o, events.TypeSeckillOrderPaid)
	case u < userCancel:
		g.schedule(at.Add(g.between(minUserCancel, maxFollowUp)), o, events.ReasonUser)
	case u < timeout:
		g.schedule(at.Add(handlers.DefaultPaymentTimeout), o, events.ReasonPaymentTimeout)
	}
	return r
}

// release returns the earliest follow-up; a cancellation returns its unit to the Redis stock.
func (g *generator) release() events.Event {
	f := heap.Pop(&g.queue).(followUp)
	if g.clock.Before(f.at) {
		g.clock = f.at
	}
	r := f.order.r
	p := g.products[r.ProductID-1]
	p.seq++
	if f.kind == events.TypeSeckillOrderPaid {
		return &events.SeckillOrderPaid{EventID: g.uuid(), OrderNo: r.OrderNo, UserID: r.UserID,
			ProductID: r.ProductID, PaidAt: f.at, Seq: p.seq, ProductName: r.ProductName, Price: r.Price,
			Quantity: r.Quantity}
	}
	p.stock += r.Quantity
	if f.kind == events.ReasonUser && g.rng.IntN(2) == 0 {
		p.rebuy = append(p.rebuy, r.UserID)
	}
	return &events.SeckillOrderCancelled{EventID: g.uuid(), OrderNo: r.OrderNo, UserID: r.UserID,
		ProductID: r.ProductID, Quantity: r.Quantity, Reason: f.kind, CancelledAt: f.at, Seq: p.seq,
		StockBefore: p.stock - r.Quantity, StockAfter: p.stock, ProductName: r.ProductName, Price: r.Price}
}
