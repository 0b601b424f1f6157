// Package handlers is the consumer side of seckill: a Watermill router that feeds the MySQL projections from
// seckill-topic, retries on RocketMQ's schedule through a delayed retry topic, parks what still fails in a DLQ
// (tb_dlq, with ListDLQ and Redrive) and cancels orders left unpaid. It never compensates a projected event:
// Redis decided it, and the projections record it whatever the order of arrival.
package handlers

import (
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/components/metrics"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/prometheus/client_golang/prometheus"
)

// Router handler names. They label the router metrics and the DLQ (handler_poisoned); consumer groups come from
// Config, so renaming a handler re-consumes nothing, but keep them stable for dashboards.
const (
	HandlerProject        = "project_events"
	HandlerProjectRetries = "project_events_retry"
	HandlerPaymentTimeout = "cancel_unpaid_orders"
	HandlerDLQ            = "park_dead_letters"
)

// Deps are what the router needs. Every field but Now is required.
type Deps struct {
	// Subscriber returns a subscriber of topic in consumer group group. It is called once per router handler.
	Subscriber func(topic, group string) (message.Subscriber, error)
	// Publisher publishes to the retry, DLQ and timeout topics; it must honour watermill's delay metadata.
	Publisher message.Publisher
	// Store records the events (*projections.Store or, for throughput, *projections.Batcher).
	Store Recorder
	// Settler cancels unpaid orders in Redis (sale.Expiry).
	Settler Settler
	// DB holds tb_dlq.
	DB *sql.DB
	// Registerer receives the router metrics and the consumer's own.
	Registerer prometheus.Registerer
	// Now is the clock of lag metrics and parking times; nil means time.Now.
	Now func() time.Time
}

func (d Deps) validate() error {
	switch {
	case d.Subscriber == nil:
		return errors.New("handlers: nil Subscriber")
	case d.Publisher == nil:
		return errors.New("handlers: nil Publisher")
	case d.Store == nil:
		return errors.New("handlers: nil Store")
	case d.Settler == nil:
		return errors.New("handlers: nil Settler")
	case d.DB == nil:
		return errors.New("handlers: nil DB")
	case d.Registerer == nil:
		return errors.New("handlers: nil Registerer")
	}
	return nil
}

// NewRouter builds the consumer router; run it with Run(ctx) and stop it with Close. It has four handlers, each on
// its own topic and consumer group (one subscription per group, as RocketMQ requires):
//
//	project_events        cfg.Topic / cfg.ConsumerGroup    every event type, dispatched on metadata "name"
//	project_events_retry  cfg.RetryTopic (group too)       the same functions, for messages that failed before
//	cancel_unpaid_orders  cfg.TimeoutTopic (group too)     payment deadlines
//	park_dead_letters     cfg.DLQTopic (group too)         parks given-up messages in tb_dlq
//
// Middleware, outermost first: CorrelationID, Prometheus router metrics (seckill_router_*); then, on the first
// three handlers, Throttle (the two projection handlers share it), PoisonQueue to cfg.DLQTopic (only for messages the retry
// step gives up), the broker-delayed retry step (cfg.RetrySchedule via cfg.RetryTopic), the quick in-process
// Retry (cfg.QuickRetries) and, innermost, Recoverer, so that a panic is retried and parked like any error.
// The DLQ handler only has the quick retries and Recoverer: if it fails, the broker redelivers.
//
// Every handler acknowledges only after its effect is durable (the event committed, the retry published, the
// message parked), so delivery is at least once and the effects are idempotent by event id.
func NewRouter(cfg Config, deps Deps, logger watermill.LoggerAdapter) (*message.Router, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := deps.validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	m, err := newMetrics(deps.Registerer, deps.DB)
	if err != nil {
		return nil, fmt.Errorf("handlers: register metrics: %w", err)
	}
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: cfg.CloseTimeout}, logger)
	if err != nil {
		return nil, err
	}

	router.AddMiddleware(middleware.CorrelationID)
	metrics.NewPrometheusMetricsBuilder(deps.Registerer, "seckill", "router").AddPrometheusRouterMetrics(router)
	poison, err := middleware.PoisonQueueWithFilter(deps.Publisher, cfg.DLQTopic, shouldPark)
	if err != nil {
		return nil, err
	}
	later := retryLater{pub: deps.Publisher, topic: cfg.RetryTopic, schedule: cfg.RetrySchedule, now: deps.Now,
		retries: m.retries}
	quick := middleware.Retry{MaxRetries: max(cfg.QuickRetries, 0), InitialInterval: 50 * time.Millisecond,
		MaxInterval: 2 * time.Second, Multiplier: 2, Logger: logger, ShouldRetry: func(p middleware.RetryParams) bool {
			var perm permanentError
			return !errors.As(p.Err, &perm)
		}}

	p := newProjector(cfg, deps, m, logger)
	// The throttle guards MySQL: it caps the two projection handlers together. Payment deadlines only touch
	// Redis (their cancellations reach MySQL through the projection), so a backlog of them never starves it.
	projected := func(h message.HandlerFunc) message.HandlerFunc { return h }
	if cfg.Throttle > 0 {
		projected = newThrottle(cfg.Throttle).Middleware
	}
	retried := []struct {
		name, topic, group string
		throttle           message.HandlerMiddleware
	}{
		{HandlerProject, cfg.Topic, cfg.ConsumerGroup, projected},
		{HandlerProjectRetries, cfg.RetryTopic, cfg.RetryTopic, projected},
		{HandlerPaymentTimeout, cfg.TimeoutTopic, cfg.TimeoutTopic, func(h message.HandlerFunc) message.HandlerFunc { return h }},
	}
	for _, h := range retried {
		sub, err := deps.Subscriber(h.topic, h.group)
		if err != nil {
			return nil, fmt.Errorf("handlers: subscribe %s as %s: %w", h.topic, h.group, err)
		}
		router.AddConsumerHandler(h.name, h.topic, sub, p.handle).
			AddMiddleware(h.throttle, poison, later.Middleware, quick.Middleware, middleware.Recoverer)
	}
	sub, err := deps.Subscriber(cfg.DLQTopic, cfg.DLQTopic)
	if err != nil {
		return nil, fmt.Errorf("handlers: subscribe %s: %w", cfg.DLQTopic, err)
	}
	pk := &parker{db: deps.DB, m: m, now: deps.Now}
	router.AddConsumerHandler(HandlerDLQ, cfg.DLQTopic, sub, pk.park).
		AddMiddleware(quick.Middleware, middleware.Recoverer)
	return router, nil
}
