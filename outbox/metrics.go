package outbox

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	published, publishFailures, relayed, fastSkipped, ackFailures, parked prometheus.Counter
	publishSeconds                                                        prometheus.Histogram
	depth, oldestAge                                                      prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		published: prometheus.NewCounter(prometheus.CounterOpts{Name: "seckill_outbox_published_total",
			Help: "Events published to RocketMQ from the outbox (fast path and relay)."}),
		publishFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "seckill_outbox_publish_failures_total",
			Help: "Events whose publish to RocketMQ failed (they stay in the outbox)."}),
		relayed: prometheus.NewCounter(prometheus.CounterOpts{Name: "seckill_outbox_relayed_total",
			Help: "Events the relay republished because the fast path had not delivered them."}),
		fastSkipped: prometheus.NewCounter(prometheus.CounterOpts{Name: "seckill_outbox_fast_path_skipped_total",
			Help: "Events left to the relay because a recent publish failed or the fast-path queue was full."}),
		ackFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "seckill_outbox_ack_failures_total",
			Help: "Published events whose removal from the outbox failed (the relay publishes them again)."}),
		parked: prometheus.NewCounter(prometheus.CounterOpts{Name: "seckill_outbox_parked_total",
			Help: "Undecodable outbox entries moved to their product's dead-letter stream (seckill:{id}:outbox:dead)."}),
		publishSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "seckill_outbox_publish_seconds",
			Help:    "Latency of one publish call to RocketMQ.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}}),
		depth: prometheus.NewGauge(prometheus.GaugeOpts{Name: "seckill_outbox_depth",
			Help: "Events waiting in the outbox streams, at the last relay pass."}),
		oldestAge: prometheus.NewGauge(prometheus.GaugeOpts{Name: "seckill_outbox_oldest_age_seconds",
			Help: "Age of the oldest event waiting in the outbox, at the last relay pass."}),
	}
	for _, c := range []prometheus.Collector{m.published, m.publishFailures, m.relayed, m.fastSkipped, m.ackFailures, m.parked,
		m.publishSeconds, m.depth, m.oldestAge} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register outbox metrics: %w", err)
		}
	}
	return m, nil
}
