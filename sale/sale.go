// Package sale owns the operations of a flash sale: reserve, pay, cancel and the payment-timeout cancellation,
// the buyer's and operator's reads, listing, warm-up, audit and the board. Redis decides (schema's scripts), the
// outbox delivers, MySQL records; the errors are typed (ErrSoldOut, ErrAlreadyBought, …) and carry the message a
// client reads, so adapters (httpapi, handlers) only decode, call and map the kind.
package sale

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/events"
	"github.com/seckill/seckill/projections"
	"github.com/seckill/seckill/schema"
)

// DefaultRatePerUser is the buy requests per second one buyer may send unless configured otherwise.
const DefaultRatePerUser = 5

// Config holds the sale's rules and the buy path's caches.
type Config struct {
	// MaxPerUser is the largest quantity one buyer may reserve (and hold) per product. Defaults to 1.
	MaxPerUser int64
	// RatePerUser is how many buy requests per second one buyer may send (token bucket); 0 turns the limit off
	// (DefaultRatePerUser is the binary's default).
	RatePerUser float64
	// RateBurst is the bucket size of RatePerUser. Defaults to 5.
	RateBurst int
	// SoldOutTTL is how long a product seen sold out is answered sold out without asking Redis. Defaults to
	// 250ms; negative turns the fast path off.
	SoldOutTTL time.Duration
}

func (c *Config) setDefaults() {
	if c.MaxPerUser == 0 {
		c.MaxPerUser = 1
	}
	if c.RateBurst == 0 {
		c.RateBurst = 5
	}
	if c.SoldOutTTL == 0 {
		c.SoldOutTTL = 250 * time.Millisecond
	}
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	if c.MaxPerUser < 1 {
		return errors.New("max per user must be at least 1")
	}
	if c.RatePerUser < 0 {
		return errors.New("rate per user must not be negative (0 turns the limit off)")
	}
	if c.RateBurst < 1 {
		return errors.New("rate burst must be at least 1")
	}
	return nil
}

// Recorder records an event in the event store and applies it to the tables (*projections.Store).
type Recorder interface {
	Record(ctx context.Context, e events.Event) (projections.Outcome, error)
}

// Deliverer publishes an event that a Redis script has just appended to a product's outbox (*outbox.Outbox).
type Deliverer interface {
	Deliver(ctx context.Context, productID int64, streamID string, e events.Event) bool
}

// Deps are the sale's collaborators. All are required unless said otherwise.
type Deps struct {
	Redis redis.UniversalClient
	// Scripts runs the settle script (schema.ScriptPipeline: the calls of concurrent requests share round trips);
	// nil means Redis. Reservations run on Redis through a schema.Reserver, which batches them itself: behind the
	// autopipeliner as well they cost serve more CPU (docs/perf-path.md, lever 7).
	Scripts    redis.Scripter
	DB         *sql.DB
	Store      Recorder
	Outbox     Deliverer
	Registerer prometheus.Registerer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// NewID returns a new event id; nil means a random UUID.
	NewID func() string
}

// Service runs the operations of every sale. All its methods are safe for concurrent use, from any number of
// goroutines and of instances over the same Redis and MySQL (Redis decides). The reads (Result, Order, Product,
// Products, Audit, Board) change nothing; each other method's doc says whether calling it again is safe.
type Service struct {
	cfg     Config
	deps    Deps
	limiter *limiter
	soldOut *soldOut
	metrics *metrics
	// reserver sends the reservations of concurrent buyers of a product to Redis together.
	reserver *schema.Reserver
	// info caches each product's name and price, which never change once listed.
	info    byProduct[saleInfo]
	catalog catalog
}

// New builds a Service and registers its metrics on deps.Registerer.
func New(cfg Config, deps Deps) (*Service, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Redis == nil || deps.DB == nil || deps.Store == nil || deps.Outbox == nil || deps.Registerer == nil {
		return nil, errors.New("sale: redis, db, store, outbox and registerer are required")
	}
	if deps.Scripts == nil {
		deps.Scripts = deps.Redis
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.NewID == nil {
		deps.NewID = uuid.NewString
	}
	m, err := newMetrics(deps.Registerer)
	if err != nil {
		return nil, err
	}
	if err := deps.Registerer.Register(newStockCollector(deps.Redis, deps.DB)); err != nil {
		return nil, fmt.Errorf("register stock metrics: %w", err)
	}
	s := &Service{cfg: cfg, deps: deps, metrics: m, soldOut: &soldOut{ttl: cfg.SoldOutTTL},
		reserver: schema.NewReserver(deps.Redis, func(buyers int) { m.buyersPerCall.Observe(float64(buyers)) })}
	if cfg.RatePerUser > 0 {
		s.limiter = newLimiter(cfg.RatePerUser, cfg.RateBurst)
	}
	return s, nil
}

// Run sweeps the rate limiter's idle buckets until ctx is done.
func (s *Service) Run(ctx context.Context) {
	if s.limiter == nil {
		return
	}
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.limiter.sweep(now)
		}
	}
}
