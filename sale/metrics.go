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
)

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{reservations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "seckill_reservations_total",
		Help: "Buy attempts by outcome."}, []string{"outcome"})}
	if err := reg.Register(m.reservations); err != nil {
		return nil, fmt.Errorf("register sale metrics: %w", err)
	}
	m.byOutcome = map[string]prometheus.Counter{}
	for _, o := range schema.ReserveOutcomes {
		m.byOutcome[o.String()] = m.reservations.WithLabelValues(o.String())
	}
	for _, o := range []string{outcomeRateLimited, outcomeSoldOutCached, outcomeRedisDown, outcomeRedisUnknown} {
		m.byOutcome[o] = m.reservations.WithLabelValues(o)
	}
	return m, nil
}
