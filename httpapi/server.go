// Package httpapi serves the buyer, admin and operations endpoints of CONTRACT.md on gorilla/mux.
//
// It is an adapter: each handler decodes the request and settles the buyer, calls package sale, and maps the
// sale's typed errors to statuses in one table (errorStatus). Every handler is safe for concurrent use. The buy
// path (POST /seckill/kill) costs one Redis script call and one RocketMQ publish; nothing on it touches MySQL,
// and it logs only when Redis fails.
package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/seckill/seckill/sale"
)

// Config holds the HTTP tier's own settings; the sale's rules are sale.Config.
type Config struct {
	// AdminToken is the bearer token of the admin endpoints. Empty: admin endpoints answer 401.
	AdminToken string
	// TrustedBuyers takes the buyer from the request, for deployments whose gateway authenticates buyers: the body
	// userId of kill, the userId query parameter of result, orders/{no}, pay and cancel. False (the default): the
	// buyer is the sub of the bearer token Deps.Buyers verifies.
	TrustedBuyers bool
}

// Check tells whether one dependency answers.
type Check struct {
	Name string
	Ping func(ctx context.Context) error
}

// Deps are the server's collaborators. All are required unless said otherwise.
type Deps struct {
	// Sale runs every buyer and admin operation.
	Sale       *sale.Service
	Checks     []Check
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
	Logger     *slog.Logger
	// Buyers verifies buyer tokens; required unless Config.TrustedBuyers.
	Buyers BuyerVerifier
	// Pages serves the buyer's page at / and the operator's page at /admin/ (package web); nil means no pages.
	Pages http.Handler
	// DevTokens mints the tokens of the development sign-in, POST /dev/token; nil (production) means no such
	// route.
	DevTokens TokenMinter
	// Now is the clock of the development sign-in's expiry; nil means time.Now.
	Now func() time.Time
}

// Server answers the HTTP API: it decodes requests, settles the buyer, calls the sale and writes the envelope.
type Server struct {
	cfg     Config
	deps    Deps
	metrics *metrics
	router  http.Handler
	// buy is the router's handler of POST /seckill/kill.
	buy http.Handler
	// draining is set by Drain: the process is about to stop.
	draining atomic.Bool
}

// New builds a Server.
func New(cfg Config, deps Deps) (*Server, error) {
	if deps.Sale == nil || deps.Registerer == nil || deps.Gatherer == nil || deps.Logger == nil {
		return nil, errors.New("httpapi: sale, registerer, gatherer and logger are required")
	}
	if deps.Buyers == nil && !cfg.TrustedBuyers {
		return nil, errors.New("httpapi: a buyer token verifier is required unless buyers are trusted")
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	m, err := newMetrics(deps.Registerer)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, deps: deps, metrics: m}
	s.router, s.buy = s.routes()
	return s, nil
}

// ServeHTTP implements http.Handler. While draining, every answer carries "Connection: close", so clients stop
// reusing connections to this process before its listener closes.
//
// POST /seckill/kill, the request a sale is made of, goes straight to its handler, the one the router holds for
// that exact path and method: gorilla/mux would copy the request twice to carry the route and the (empty) path
// variables, 0.8 KB of garbage per buy. Every other request goes through the router.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		w.Header().Set("Connection", "close")
	}
	if r.Method == http.MethodPost && r.URL.Path == killPath {
		s.buy.ServeHTTP(w, r)
		return
	}
	s.router.ServeHTTP(w, r)
}

// Drain tells the outside that this process is going away: /readyz answers 503 from now on (load balancers stop
// sending it traffic) while every other endpoint keeps answering. Call it a drain period before
// http.Server.Shutdown. Safe for concurrent use; idempotent.
func (s *Server) Drain() { s.draining.Store(true) }

// respond writes err as the contract's envelope (status and message from errorStatus), or data with 200 when err
// is nil. Unexpected errors are logged once and answered 500; a store failure behind a sale error (its Cause) is
// logged as a warning.
func (s *Server) respond(w http.ResponseWriter, r *http.Request, data any, err error) {
	if err == nil {
		writeOK(w, data)
		return
	}
	status, msg := errorStatus(err)
	switch status {
	case http.StatusInternalServerError:
		s.deps.Logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	case http.StatusServiceUnavailable:
		if se := (*sale.Error)(nil); errors.As(err, &se) && se.Cause != nil {
			s.deps.Logger.Warn("request failed", "method", r.Method, "path", r.URL.Path, "outcome_unknown",
				errors.Is(err, sale.ErrOutcomeUnknown), "err", se.Cause)
		}
	}
	writeJSON(w, status, msg, nil)
}
