package sale

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/seckill/seckill/schema"
)

type metrics struct {
	reservations *prometheus.CounterVec
	// byOutcome holds the reservations counter of every outcome, resolved once: the buy path counts without
	// hashing labels.
	byOutcome map[string]prometheus.Counter
	// buyersPerCall is how many buyers each reserve.lua call carried (schema.Reserver).
	buyersPerCall prometheus.Histogram
}

// reserved counts one buy attempt with the given outcome.
func (m *metrics) reserved(outcome string) {
	if c, ok := m.byOutcome[outcome]; ok {
		c.Inc()
		return
	}
	m.reservations.WithLabelValues(outcome).Inc()
}

// Reservation outcomes beyond the script's own: answered before reaching Redis, or Redis failed (the script did
// not run, or it may have run and no reply came).
const (
	outcomeRateLimited   = "rate_limited"
	outcomeSoldOutCached = "sold_out_cached"
	outcomeRedisDown     = "redis_down"
	outcomeRedisUnknown  = "redis_unknown" // the script may have run, no reply came
	outcomeAbandoned     = "abandoned"     // the request ended (client gone, deadline) before its turn to reach Redis
)

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{reservations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "seckill_reservations_total",
		Help: "Buy attempts by outcome."}, []string{"outcome"})}
	m.buyersPerCall = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "seckill_reserve_call_buyers",
		Help:    "Buyers decided by one reserve.lua call: the buy requests for a product that arrived while its previous call was in flight.",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128}})
	for _, c := range []prometheus.Collector{m.reservations, m.buyersPerCall} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register sale metrics: %w", err)
		}
	}
	m.byOutcome = map[string]prometheus.Counter{}
	for _, o := range schema.ReserveOutcomes {
		m.byOutcome[o.String()] = m.reservations.WithLabelValues(o.String())
	}
	for _, o := range []string{outcomeRateLimited, outcomeSoldOutCached, outcomeRedisDown, outcomeRedisUnknown, outcomeAbandoned} {
		m.byOutcome[o] = m.reservations.WithLabelValues(o)
	}
	return m, nil
}
