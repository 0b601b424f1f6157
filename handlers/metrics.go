package handlers

import (
	"context"
	"database/sql"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/seckill/seckill/events"
	"github.com/seckill/seckill/projections"
	"github.com/seckill/seckill/schema"
)

// consumerMetrics are the consumer's own series, next to the router metrics (seckill_router_*).
type consumerMetrics struct {
	recorded  *prometheus.CounterVec   // seckill_events_recorded_total{type,outcome}
	lag       *prometheus.HistogramVec // seckill_projection_lag_seconds{type}
	retries   *prometheus.CounterVec   // seckill_handler_retries_total{handler}
	parked    *prometheus.CounterVec   // seckill_dlq_parked_total{handler}
	cancelled *prometheus.CounterVec   // seckill_orders_cancelled_total{reason}
	unknown   prometheus.Counter       // seckill_events_unknown_total
	timeouts  *prometheus.CounterVec   // seckill_payment_timeouts_total{outcome}
}

func newMetrics(reg prometheus.Registerer, db *sql.DB) (*consumerMetrics, error) {
	m := &consumerMetrics{
		recorded: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "seckill_events_recorded_total",
			Help: "Events recorded by the projections, by type and outcome (applied, duplicate, rejected)."},
			[]string{"type", "outcome"}),
		lag: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "seckill_projection_lag_seconds",
			Help:    "Time from an event to its application to the MySQL tables.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 1800}},
			[]string{"type"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "seckill_handler_retries_total",
			Help: "Messages sent to the retry topic after failing, by router handler."}, []string{"handler"}),
		parked: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "seckill_dlq_parked_total",
			Help: "Messages parked in tb_dlq after their last retry, by the router handler that gave up."},
			[]string{"handler"}),
		cancelled: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "seckill_orders_cancelled_total",
			Help: "Order cancellations applied to MySQL, by reason."}, []string{"reason"}),
		unknown: prometheus.NewCounter(prometheus.CounterOpts{Name: "seckill_events_unknown_total",
			Help: "Messages of an unknown type, acknowledged without effect."}),
		timeouts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "seckill_payment_timeouts_total",
			Help: "Payment deadlines handled, by what Redis decided (settled, not_awaiting_payment, unknown_order)."},
			[]string{"outcome"}),
	}
	size := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "seckill_dlq_size",
		Help: "Messages parked in tb_dlq and not redriven (-1 when MySQL does not answer)."}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		var n float64
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM tb_dlq WHERE redriven_at IS NULL`).Scan(&n); err != nil {
			return -1
		}
		return n
	})
	for _, c := range []prometheus.Collector{m.recorded, m.lag, m.retries, m.parked, m.cancelled, m.unknown, m.timeouts, size} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, t := range events.Types() {
		for _, o := range projections.Outcomes {
			m.recorded.WithLabelValues(t, o.String())
		}
	}
	for _, o := range []schema.Outcome{schema.Settled, schema.NotAwaitingPayment, schema.UnknownOrder} {
		m.timeouts.WithLabelValues(o.String())
	}
	for _, r := range events.Reasons {
		m.cancelled.WithLabelValues(r)
	}
	// Series that exist at 0 from the start: Prometheus's increase() cannot see a counter's first step from
	// absent to 1, so the DLQ and retry alerts would miss the first parked or retried message after a restart.
	for _, h := range []string{HandlerProject, HandlerProjectRetries, HandlerPaymentTimeout} {
		m.retries.WithLabelValues(h)
		m.parked.WithLabelValues(h)
	}
	return m, nil
}
