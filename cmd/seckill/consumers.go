package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/handlers"
	"github.com/seckill/seckill/projections"
	"github.com/seckill/seckill/replay"
	"github.com/seckill/seckill/rocketmqpubsub"
	"github.com/seckill/seckill/sale"
	"github.com/seckill/seckill/schema"
)

// handlersConfig is the consumer router's configuration; the retry, DLQ and timeout topics derive from the
// consumer group (handlers.Config).
func handlersConfig(cfg Config) handlers.Config {
	return handlers.Config{Topic: cfg.Topic, ConsumerGroup: cfg.ConsumerGroup, Throttle: cfg.Throttle,
		RetrySchedule: cfg.RetrySchedule, PaymentTimeout: cfg.PaymentTimeout}
}

// startConsumers creates the consumer topics, starts the projection router and a heartbeat (so `seckill replay
// --in-place` knows consumers run), and returns once the router runs. Both stop when ctx is cancelled or the
// router is closed; wg tracks them and a router failure goes to errs. The router handles a message only while the
// heartbeat is fresh (see heartbeat): a consumer that replay cannot see does not write.
func startConsumers(ctx context.Context, cfg Config, db *sql.DB, rdb redis.UniversalClient, pub message.Publisher,
	reg prometheus.Registerer, log *slog.Logger, wg *sync.WaitGroup, errs chan<- error) (*message.Router, error) {
	wlog := watermill.NewSlogLogger(log)
	hcfg := handlersConfig(cfg)
	for _, t := range hcfg.Topics() {
		if err := ensureTopic(ctx, cfg, t); err != nil {
			return nil, err
		}
	}
	store, err := projections.NewStore(db)
	if err != nil {
		return nil, err
	}
	batcher, err := projections.NewBatcher(store, projections.BatcherConfig{MaxBatch: 256, MaxWait: batchWait(cfg)})
	if err != nil {
		return nil, err
	}
	router, err := handlers.NewRouter(hcfg, handlers.Deps{
		Subscriber: func(topic, group string) (message.Subscriber, error) {
			// Every handler is idempotent by event id and order-insensitive, so each queue may have
			// cfg.InFlight messages in flight: that is what lets the Batcher share one commit among many events.
			return rocketmqpubsub.NewSubscriber(rocketmqpubsub.SubscriberConfig{NameServers: cfg.Namesrv,
				BrokerAddr: cfg.Brokers[0], ConsumerGroup: group, MaxInFlightPerQueue: cfg.InFlight}, wlog)
		},
		Publisher: pub, Store: batcher, Settler: sale.Expiry{RDB: rdb, Publisher: pub, Topic: cfg.Topic}, DB: db, Registerer: reg,
	}, wlog)
	if err != nil {
		_ = batcher.Close()
		return nil, err
	}
	hb, err := newHeartbeat(db, consumerInstance(), reg, log)
	if err != nil {
		_ = batcher.Close()
		return nil, err
	}
	router.AddMiddleware(hb.hold)
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer batcher.Close()
		if err := router.Run(ctx); err != nil {
			errs <- fmt.Errorf("consumer router: %w", err)
		}
	}()
	go func() {
		defer wg.Done()
		hb.run(ctx, router.Running())
	}()
	select {
	case <-router.Running():
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return router, nil
}

// throttledBatchWait is how long the projection's Batcher waits for more events once a batch has its first, when
// the throttle is on: the throttle lets waiting events through a tick's worth at a time (handlers.throttle), and
// the handlers of that burst reach the Batcher over a millisecond or two on two cores; without the wait the first
// few commit alone and the rest in a second or third transaction. Measured with `DRAIN_THROTTLE=1000
// scripts/drain-bench.sh 20000` (alternating runs, medians of six): 163 µs of `seckill consume` CPU per projected
// event without the wait, 148 µs with 3 ms; 6 ms held the rate below the throttle (940 events/s). Unthrottled,
// events arrive continuously and batches fill without waiting.
const throttledBatchWait = 3 * time.Millisecond

// batchWait is the Batcher's MaxWait for cfg.
func batchWait(cfg Config) time.Duration {
	if cfg.Throttle > 0 {
		return throttledBatchWait
	}
	return 0
}

func consumerInstance() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}

// Heartbeat timing. `seckill replay --in-place` counts a consumer as running while its heartbeat is younger than
// replay.DefaultConsumerWindow (15s); a consumer handles messages only while its last successful heartbeat began
// less than heartbeatLease ago, so whenever it writes, replay sees it.
const (
	heartbeatInterval = 5 * time.Second
	heartbeatRetry    = time.Second
	heartbeatLease    = replay.DefaultConsumerWindow - heartbeatInterval
)

// heartbeat records the consumer's row in tb_consumer_heartbeat and is the guard that makes it true: the
// router's messages wait (hold) while the lease of the last successful heartbeat has run out (MySQL unreachable,
// the row not written). Failures are counted (seckill_consumer_heartbeat_failures_total) and logged when a
// streak starts and ends. Safe for concurrent use.
type heartbeat struct {
	db       *sql.DB
	instance string
	log      *slog.Logger
	failures prometheus.Counter
	now      func() time.Time
	lease    time.Duration
	// okAt is the time (unix ns, this process's clock) at which the last successful heartbeat began; 0 = never.
	// The row's seen_at is the database's clock when it was written, later than that: a message passes only
	// while less than lease has elapsed since, so the row is younger than replay's window whenever one passes.
	okAt atomic.Int64
}

func newHeartbeat(db *sql.DB, instance string, reg prometheus.Registerer, log *slog.Logger) (*heartbeat, error) {
	h := &heartbeat{db: db, instance: instance, log: log, now: time.Now, lease: heartbeatLease,
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "seckill_consumer_heartbeat_failures_total",
			Help: "Consumer heartbeats that could not be written; past the lease the consumer holds its messages."})}
	if err := reg.Register(h.failures); err != nil {
		return nil, fmt.Errorf("register heartbeat metrics: %w", err)
	}
	return h, nil
}

// fresh reports whether the last successful heartbeat is recent enough for replay to see this consumer.
func (h *heartbeat) fresh() bool {
	ok := h.okAt.Load()
	return ok != 0 && h.now().Sub(time.Unix(0, ok)) < h.lease
}

// hold is router middleware: it lets a message through only while the heartbeat is fresh, and otherwise waits
// (the message stays unacknowledged) until it is or the message's context ends (then the broker redelivers it).
func (h *heartbeat) hold(next message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		if !h.fresh() {
			t := time.NewTicker(100 * time.Millisecond)
			defer t.Stop()
			for !h.fresh() {
				select {
				case <-msg.Context().Done():
					return nil, fmt.Errorf("consumer heartbeat stale, message held: %w", msg.Context().Err())
				case <-t.C:
				}
			}
		}
		return next(msg)
	}
}

// beat writes the heartbeat once and renews the lease when it succeeds.
func (h *heartbeat) beat(ctx context.Context) error {
	start := h.now()
	if err := schema.Heartbeat(ctx, h.db, h.instance); err != nil {
		h.failures.Inc()
		return err
	}
	h.okAt.Store(start.UnixNano())
	return nil
}

// run beats every heartbeatInterval (every heartbeatRetry while failing) from when running closes until ctx ends,
// then removes the row.
func (h *heartbeat) run(ctx context.Context, running <-chan struct{}) {
	select {
	case <-running:
	case <-ctx.Done():
		return
	}
	failing := 0
	for {
		wait := heartbeatInterval
		if err := h.beat(ctx); err != nil && ctx.Err() == nil {
			if failing == 0 {
				h.log.Warn("consumer heartbeat failed; past its lease the consumer holds its messages",
					"instance", h.instance, "lease", h.lease, "err", err)
			}
			failing++
			wait = heartbeatRetry
		} else if failing > 0 {
			h.log.Info("consumer heartbeat back", "instance", h.instance, "failed_beats", failing)
			failing = 0
		}
		select {
		case <-ctx.Done():
			if err := schema.ForgetConsumer(context.Background(), h.db, h.instance); err != nil {
				h.log.Warn("consumer heartbeat not removed; it expires by itself", "instance", h.instance, "err", err)
			}
			return
		case <-time.After(wait):
		}
	}
}

// consume runs the projection consumers alone, with /metrics and /healthz on SECKILL_HTTP_ADDR.
func consume(ctx context.Context, cfg Config, stderr io.Writer) error {
	log := newLogger(cfg, stderr)
	wlog := watermill.NewSlogLogger(log)
	st, err := connect(ctx, cfg, wlog)
	if err != nil {
		return err
	}
	defer st.Close()
	reg := newRegistry()
	if cfg.PprofAddr != "" {
		go servePprof(cfg.PprofAddr, log)
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("SECKILL_HTTP_ADDR=%s: %w", cfg.HTTPAddr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "alive\n") })
	ops := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = ops.Serve(ln) }()

	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	router, err := startConsumers(runCtx, cfg, st.db, st.rdb, st.pub, reg, log, &wg, errs)
	if err != nil {
		return err
	}
	log.Info("consuming", "topic", cfg.Topic, "group", cfg.ConsumerGroup, "metrics", "http://"+ln.Addr().String()+"/metrics")
	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down: finishing the events in flight")
	case runErr = <-errs:
	}
	if err := router.Close(); err != nil {
		log.Warn("consumer shutdown", "err", err)
	}
	cancel()
	wg.Wait()
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	_ = ops.Shutdown(sctx)
	log.Info("stopped")
	return runErr
}

// dlqCommand lists (`seckill dlq list`) or re-drives (`seckill dlq redrive [event-id ...]`) parked events.
func dlqCommand(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "list" && args[0] != "redrive") {
		return fmt.Errorf("dlq: want `seckill dlq list` or `seckill dlq redrive [event-id ...]`: %w", errUsage)
	}
	fs := flag.NewFlagSet("dlq", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args[1:]); err != nil {
		return errUsage
	}
	db, err := openMySQL(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	if args[0] == "list" {
		parked, err := handlers.ListDLQ(ctx, db)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "EVENT ID\tTYPE\tRETRIES\tPARKED AT\tHANDLER\tTOPIC\tREASON")
		for _, p := range parked {
			fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", p.EventID, p.EventType, p.Retries,
				p.ParkedAt.Format(time.RFC3339), p.Handler, p.OriginalTopic, p.Reason)
		}
		if err := w.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%d parked events\n", len(parked))
		return nil
	}
	pub, err := newPublisher(cfg, watermill.NewSlogLogger(newLogger(cfg, stderr)))
	if err != nil {
		return err
	}
	defer pub.Close()
	n, err := handlers.Redrive(ctx, db, pub, fs.Args()...)
	if err != nil {
		return fmt.Errorf("redrive: %w (%d re-driven before the error)", err, n)
	}
	if n == 0 && fs.NArg() > 0 {
		return errors.New("redrive: none of the given event ids is parked")
	}
	fmt.Fprintf(stdout, "re-drove %d parked events to their topics\n", n)
	return nil
}
