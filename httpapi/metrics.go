package httpapi

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "seckill_http_requests_total",
			Help: "HTTP requests by route and status code."}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "seckill_http_request_duration_seconds",
			Help:    "HTTP request latency by route.",
			Buckets: []float64{.0002, .0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1}}, []string{"route"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register http metrics: %w", err)
		}
	}
	return m, nil
}

// codeCounters are one route's request counters by status code, each resolved on its first use. Safe for
// concurrent use.
type codeCounters struct {
	route  string
	vec    *prometheus.CounterVec
	byCode sync.Map // int -> prometheus.Counter
}

func (c *codeCounters) inc(code int) {
	if v, ok := c.byCode.Load(code); ok {
		v.(prometheus.Counter).Inc()
		return
	}
	v, _ := c.byCode.LoadOrStore(code, c.vec.WithLabelValues(c.route, strconv.Itoa(code)))
	v.(prometheus.Counter).Inc()
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
	codes := &codeCounters{route: route, vec: s.metrics.requests}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		h(rec, r)
		lat.Observe(time.Since(start).Seconds())
		codes.inc(rec.code)
	})
}
