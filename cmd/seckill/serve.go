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
	"net/http/pprof"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/events"
	"github.com/seckill/seckill/httpapi"
	"github.com/seckill/seckill/outbox"
	"github.com/seckill/seckill/projections"
	"github.com/seckill/seckill/sale"
	"github.com/seckill/seckill/schema"
	"github.com/seckill/seckill/web"
)

// The demo product of the seed document, listed by `seckill serve -seed` (what `make run` does).
var seedProduct = events.ProductListed{ProductID: 1, Name: "iPhone 15 Pro", Price: 699900, Stock: 10000}

func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// serve runs the HTTP API, the outbox relay and, unless cfg.Consumers is false, the projection consumers, until
// ctx is cancelled; then /readyz answers 503 for cfg.ShutdownDrain while requests are still served, the listener
// closes, the requests in flight are answered, the outbox is flushed and the consumers stop.
func serve(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	seed := fs.Bool("seed", false, `list the seed's product (id 1, "iPhone 15 Pro", 6999, stock 10000) when absent`)
	fs.BoolVar(&cfg.Dev, "dev", cfg.Dev, "development mode: POST /dev/token and a sign-in by user id on the buyer's page (SECKILL_DEV)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	buyers, err := cfg.buyerVerifier()
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	wlog := watermill.NewSlogLogger(log)
	pages, devTokens, err := buyerPages(cfg)
	if err != nil {
		return err
	}
	if cfg.Dev {
		log.Warn("development mode: POST /dev/token signs anyone in as any buyer; never use it in production")
	}
	if buyers == nil {
		log.Warn("SECKILL_BUYER_AUTH=trusted: the buyer is whoever the request names; run this only behind a gateway that authenticates buyers")
	}

	st, err := connect(ctx, cfg, wlog)
	if err != nil {
		return err
	}
	defer st.Close()
	rdb, db, pub := st.rdb, st.db, st.pub
	store, err := projections.NewStore(db)
	if err != nil {
		return err
	}
	reg := newRegistry()
	ob, err := outbox.New(outbox.Config{Topic: cfg.Topic, MinAge: cfg.OutboxMinAge}, rdb, pub, reg, log)
	if err != nil {
		return err
	}
	defer ob.Close()
	scripts, err := schema.ScriptPipeline(rdb)
	if err != nil {
		return err
	}
	svc, err := sale.New(sale.Config{MaxPerUser: cfg.MaxPerUser, RatePerUser: cfg.RatePerUser},
		sale.Deps{Redis: rdb, Scripts: scripts, DB: db, Store: store, Outbox: ob, Registerer: reg})
	if err != nil {
		return err
	}
	restored, err := svc.WarmUp(ctx)
	if err != nil {
		return err
	}
	for _, r := range restored {
		log.Warn("warm-up loaded a product missing from redis", "product_id", r.ProductID, "stock", r.Stock, "orders", r.Orders)
	}
	hdeps := httpapi.Deps{Sale: svc, Registerer: reg, Gatherer: reg, Logger: log, Checks: readiness(cfg, rdb, db),
		Pages: pages, DevTokens: devTokens}
	if buyers != nil {
		hdeps.Buyers = buyers
	}
	srv, err := httpapi.New(httpapi.Config{AdminToken: cfg.AdminToken, TrustedBuyers: buyers == nil}, hdeps)
	if err != nil {
		return err
	}
	if *seed {
		e := seedProduct
		listed, err := svc.ListProduct(ctx, &e)
		if err != nil {
			return fmt.Errorf("list the seed product: %w", err)
		}
		if listed {
			log.Info("seed product listed", "product_id", e.ProductID, "name", e.Name, "stock", e.Stock)
		}
	}

	if cfg.PprofAddr != "" {
		go servePprof(cfg.PprofAddr, log)
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("SECKILL_HTTP_ADDR=%s: %w", cfg.HTTPAddr, err)
	}
	runCtx, cancelRun := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRun()
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	wg.Add(2)
	go func() { defer wg.Done(); _ = ob.Run(runCtx) }()
	go func() { defer wg.Done(); svc.Run(runCtx) }()
	var router interface{ Close() error }
	if cfg.Consumers {
		r, err := startConsumers(runCtx, cfg, db, rdb, pub, reg, log, &wg, errs)
		if err != nil {
			return err
		}
		router = r
	}
	httpSrv := &http.Server{Handler: srv, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 120 * time.Second}
	go func() {
		if err := httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs <- fmt.Errorf("http server: %w", err)
		}
	}()
	log.Info("serving", "addr", "http://"+ln.Addr().String(), "consumers", cfg.Consumers, "admin_api", cfg.AdminToken != "",
		"buyer_auth", cfg.BuyerAuth)
	fmt.Fprintf(stdout, "seckill serving on http://%s (metrics /metrics, readiness /readyz)\n", ln.Addr())

	var runErr error
	select {
	case <-ctx.Done():
		// Readiness goes 503 first, so that load balancers stop sending requests while this process still
		// answers them; only then does the listener close.
		srv.Drain()
		log.Info("shutting down: /readyz answers 503, draining", "drain", cfg.ShutdownDrain)
		t := time.NewTimer(cfg.ShutdownDrain)
		select {
		case <-t.C:
		case runErr = <-errs:
			t.Stop()
		}
	case runErr = <-errs:
		srv.Drain()
		log.Error("stopping", "err", runErr)
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	// Shutdown closes the listener and idle connections and waits for the requests in flight to be answered.
	if err := httpSrv.Shutdown(sctx); err != nil {
		log.Warn("http shutdown", "err", err)
	}
	_ = ob.Close() // publishes what the requests queued
	if err := ob.Flush(sctx); err != nil {
		log.Warn("last outbox pass failed; the entries stay in Redis for the next start", "err", err)
	}
	if router != nil {
		if err := router.Close(); err != nil {
			log.Warn("consumer shutdown", "err", err)
		}
	}
	cancelRun()
	wg.Wait()
	log.Info("stopped")
	return runErr
}

// buyerPages builds the pages and, in development mode only, the minter of the development sign-in.
func buyerPages(cfg Config) (http.Handler, httpapi.TokenMinter, error) {
	pages, err := web.New(web.Config{DevSignIn: cfg.Dev})
	if err != nil || !cfg.Dev {
		return pages, nil, err
	}
	m, err := newDevMinter(cfg.BuyerSecret)
	return pages, m, err
}

func readiness(cfg Config, rdb redis.UniversalClient, db *sql.DB) []httpapi.Check {
	return []httpapi.Check{
		{Name: "redis", Ping: func(ctx context.Context) error { return rdb.Ping(ctx).Err() }},
		{Name: "mysql", Ping: db.PingContext},
		{Name: "rocketmq", Ping: func(ctx context.Context) error { return pingRocketMQ(ctx, cfg) }},
	}
}

// pingRocketMQ checks that the NameServers and the brokers accept connections.
func pingRocketMQ(ctx context.Context, cfg Config) error {
	var d net.Dialer
	for _, a := range append(append([]string{}, cfg.Namesrv...), cfg.Brokers...) {
		c, err := d.DialContext(ctx, "tcp", a)
		if err != nil {
			return err
		}
		_ = c.Close()
	}
	return nil
}

// servePprof serves the Go profiler on its own address, for profiling under `seckill bench`.
func servePprof(addr string, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	log.Info("pprof", "addr", "http://"+addr+"/debug/pprof/")
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	if err := srv.ListenAndServe(); err != nil {
		log.Warn("pprof server stopped", "err", err)
	}
}
