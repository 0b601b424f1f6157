package httpapi

import (
	"fmt"
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

// route is one endpoint's latency histogram and request counters, resolved once when the routes are built. Safe
// for concurrent use.
type route struct {
	latency prometheus.Observer
	codes   *codeCounters
}

func (m *metrics) route(name string) *route {
	return &route{latency: m.latency.WithLabelValues(name), codes: &codeCounters{route: name, vec: m.requests}}
}

// observe counts one answer of the route with its status code and records its latency.
func (rt *route) observe(start time.Time, code int) {
	rt.latency.Observe(time.Since(start).Seconds())
	rt.codes.inc(code)
}
