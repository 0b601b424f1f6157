// Package httpapi serves the buyer, admin and operations endpoints of CONTRACT.md on gorilla/mux.
//
// Every handler is safe for concurrent use. The buy path (POST /seckill/kill) costs one Redis script call and one
// RocketMQ publish; nothing on it logs or touches MySQL.
package httpapi

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/events"
	"github.com/seckill/seckill/projections"
)

// Config holds the HTTP tier's own settings.
type Config struct {
	// AdminToken is the bearer token of the admin endpoints. Empty: admin endpoints answer 401.
	AdminToken string
	// TrustedBuyers takes the buyer from the request, for deployments whose gateway authenticates buyers: the body
	// userId of kill, the userId query parameter of result, orders/{no}, pay and cancel. False (the default): the
	// buyer is the sub of the bearer token Deps.Buyers verifies.
	TrustedBuyers bool
	// MaxPerUser is the largest quantity one buyer may reserve (and hold) per product. Defaults to 1.
	MaxPerUser int64
	// RatePerUser is how many buy requests per second one buyer may send (token bucket); 0 turns the limit off
	// (DefaultRatePerUser is the binary's default).
	RatePerUser float64
	// RateBurst is the bucket size of RatePerUser. Defaults to 5.
	RateBurst int
	// SoldOutTTL is how long a product seen sold out is answered 410 without asking Redis. Defaults to 250ms;
	// negative turns the fast path off.
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

// DefaultRatePerUser is the buy requests per second one buyer may send unless configured otherwise.
const DefaultRatePerUser = 5

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

// Check tells whether one dependency answers.
type Check struct {
	Name string
	Ping func(ctx context.Context) error
}

// Deps are the server's collaborators. All are required unless said otherwise.
type Deps struct {
	Redis redis.UniversalClient
	// Scripts runs the reserve and settle scripts of requests (schema.ScriptPipeline: the calls of concurrent
	// requests share round trips); nil means Redis.
	Scripts    redis.Scripter
	DB         *sql.DB
	Store      Recorder
	Outbox     Deliverer
	Checks     []Check
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
	Logger     *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// NewID returns a new event id; nil means a random UUID.
	NewID func() string
	// Buyers verifies buyer tokens; required unless Config.TrustedBuyers.
	Buyers BuyerVerifier
	// Pages serves the buyer's page at / and the operator's page at /admin/ (package web); nil means no pages.
	Pages http.Handler
	// DevTokens mints the tokens of the development sign-in, POST /dev/token; nil (production) means no such
	// route.
	DevTokens TokenMinter
}

// Server answers the HTTP API.
type Server struct {
	cfg     Config
	deps    Deps
	limiter *limiter
	soldOut *soldOut
	metrics *metrics
	// infoCache maps product id -> saleInfo (name and price never change once listed).
	infoCache sync.Map
	catalog   catalog
	handler   http.Handler
	// draining is set by Drain: the process is about to stop.
	draining atomic.Bool
}

// New builds a Server.
func New(cfg Config, deps Deps) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Redis == nil || deps.DB == nil || deps.Store == nil || deps.Outbox == nil || deps.Registerer == nil ||
		deps.Gatherer == nil || deps.Logger == nil {
		return nil, errors.New("httpapi: redis, db, store, outbox, registerer, gatherer and logger are required")
	}
	if deps.Buyers == nil && !cfg.TrustedBuyers {
		return nil, errors.New("httpapi: a buyer token verifier is required unless buyers are trusted")
	}
	if deps.Scripts == nil {
		deps.Scripts = deps.Redis
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.NewID == nil {
		deps.NewID = newUUID
	}
	m, err := newMetrics(deps.Registerer)
	if err != nil {
		return nil, err
	}
	if err := deps.Registerer.Register(newStockCollector(deps.Redis, deps.DB)); err != nil {
		return nil, fmt.Errorf("register stock metrics: %w", err)
	}
	s := &Server{cfg: cfg, deps: deps, metrics: m, soldOut: &soldOut{ttl: cfg.SoldOutTTL}}
	if cfg.RatePerUser > 0 {
		s.limiter = newLimiter(cfg.RatePerUser, cfg.RateBurst)
	}
	s.handler = s.routes()
	return s, nil
}

// ServeHTTP implements http.Handler. While draining, every answer carries "Connection: close", so clients stop
// reusing connections to this process before its listener closes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		w.Header().Set("Connection", "close")
	}
	s.handler.ServeHTTP(w, r)
}

// Drain tells the outside that this process is going away: /readyz answers 503 from now on (load balancers stop
// sending it traffic) while every other endpoint keeps answering. Call it a drain period before
// http.Server.Shutdown. Safe for concurrent use; idempotent.
func (s *Server) Drain() { s.draining.Store(true) }

// Run sweeps the rate limiter's idle buckets until ctx is done.
func (s *Server) Run(ctx context.Context) {
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

// respond writes err as the contract's envelope (status and message from errorStatus), or data with 200 when err
// is nil. Unexpected errors are logged once and answered 500.
func (s *Server) respond(w http.ResponseWriter, r *http.Request, data any, err error) {
	if err == nil {
		writeOK(w, data)
		return
	}
	status, msg := errorStatus(err)
	if status == http.StatusInternalServerError {
		s.deps.Logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeJSON(w, status, msg, nil)
}
