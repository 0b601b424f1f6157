package httpapi

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/seckill/seckill/schema"
)

type metrics struct {
	requests     *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	reservations *prometheus.CounterVec
}

// Reservation outcomes beyond the script's own: answered before reaching Redis, or Redis failed (the script did
// not run, or it may have run and no reply came).
const (
	outcomeRateLimited   = "rate_limited"
	outcomeSoldOutCached = "sold_out_cached"
	outcomeRedisDown     = "redis_down"
	outcomeRedisUnknown  = "redis_unknown" // the script may have run, no reply came
)

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "seckill_http_requests_total",
			Help: "HTTP requests by route and status code."}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "seckill_http_request_duration_seconds",
			Help:    "HTTP request latency by route.",
			Buckets: []float64{.0002, .0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1}}, []string{"route"}),
		reservations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "seckill_reservations_total",
			Help: "Buy attempts by outcome."}, []string{"outcome"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.reservations} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register http metrics: %w", err)
		}
	}
	for _, o := range schema.ReserveOutcomes {
		m.reservations.WithLabelValues(o.String())
	}
	for _, o := range []string{outcomeRateLimited, outcomeSoldOutCached, outcomeRedisDown, outcomeRedisUnknown} {
		m.reservations.WithLabelValues(o)
	}
	return m, nil
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

// instrument counts requests by route and code and observes their latency.
func (s *Server) instrument(route string, h http.HandlerFunc) http.Handler {
	lat := s.metrics.latency.WithLabelValues(route)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		h(rec, r)
		lat.Observe(time.Since(start).Seconds())
		s.metrics.requests.WithLabelValues(route, strconv.Itoa(rec.code)).Inc()
	})
}
