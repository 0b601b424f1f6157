package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/handlers"
	"github.com/seckill/seckill/projections"
	"github.com/seckill/seckill/rocketmqpubsub"
	"github.com/seckill/seckill/schema"
)

// handlersConfig derives the consumer router's topics from the event topic and the consumer group.
func handlersConfig(cfg Config) handlers.Config {
	throttle := cfg.Throttle
	if throttle == 0 {
		throttle = -1
	}
	return handlers.Config{Topic: cfg.Topic, ConsumerGroup: cfg.ConsumerGroup,
		RetryTopic: cfg.ConsumerGroup + "-retry", DLQTopic: cfg.ConsumerGroup + "-dlq",
		TimeoutTopic: cfg.ConsumerGroup + "-timeout", Throttle: throttle, RetrySchedule: cfg.RetrySchedule,
		PaymentTimeout: cfg.PaymentTimeout}
}

// startConsumers creates the consumer topics, starts the projection router and a heartbeat (so `seckill replay
// --in-place` knows consumers run), and returns once the router runs. Both stop when ctx is cancelled or the
// router is closed; wg tracks them and a router failure goes to errs.
func startConsumers(ctx context.Context, cfg Config, db *sql.DB, rdb *redis.Client, pub message.Publisher,
	reg prometheus.Registerer, wlog watermill.LoggerAdapter, wg *sync.WaitGroup, errs chan<- error) (*message.Router, error) {
	hcfg := handlersConfig(cfg)
	for _, t := range []string{hcfg.Topic, hcfg.RetryTopic, hcfg.DLQTopic, hcfg.TimeoutTopic} {
		if err := ensureTopic(ctx, cfg, t); err != nil {
			return nil, err
		}
	}
	store, err := projections.NewStore(db)
	if err != nil {
		return nil, err
	}
	batcher, err := projections.NewBatcher(store, projections.BatcherConfig{MaxBatch: 256})
	if err != nil {
		return nil, err
	}
	router, err := handlers.NewRouter(hcfg, handlers.Deps{
		Subscriber: func(topic, group string) (message.Subscriber, error) {
			// Every handler is idempotent by event id and order-insensitive, so each queue may have
			// cfg.InFlight messages in flight: that is what lets the Batcher share one commit among many events.
			return rocketmqpubsub.NewSubscriber(rocketmqpubsub.SubscriberConfig{NameServers: cfg.Namesrv,
				BrokerAddr: cfg.Broker, ConsumerGroup: group, MaxInFlightPerQueue: cfg.InFlight}, wlog)
		},
		Publisher: pub, Store: batcher, Settler: handlers.RedisSettler{RDB: rdb, Publisher: pub, Topic: cfg.Topic}, DB: db, Registerer: reg,
	}, wlog)
	if err != nil {
		_ = batcher.Close()
		return nil, err
	}
	instance := consumerInstance()
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
		heartbeat(ctx, db, instance, router.Running())
	}()
	select {
	case <-router.Running():
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return router, nil
}

func consumerInstance() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}

// heartbeat refreshes the consumer's row every 5s from when running closes until ctx ends, then removes it.
func heartbeat(ctx context.Context, db *sql.DB, instance string, running <-chan struct{}) {
	select {
	case <-running:
	case <-ctx.Done():
		return
	}
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		_ = schema.Heartbeat(ctx, db, instance, time.Now())
		select {
		case <-ctx.Done():
			_ = schema.ForgetConsumer(context.Background(), db, instance)
			return
		case <-t.C:
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
	router, err := startConsumers(runCtx, cfg, st.db, st.rdb, st.pub, reg, wlog, &wg, errs)
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
