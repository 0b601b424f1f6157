package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/term"

	"github.com/seckill/seckill/loadgen"
	"github.com/seckill/seckill/projections"
	"github.com/seckill/seckill/schema"
)

// bench reads the flags of `seckill bench` and runs the load generator's sale (or, with -bare, its ceiling run).
func bench(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	var (
		sale   = loadgen.Sale{Log: stderr}
		load   loadgen.Load
		asJSON bool
		bare   bool
		n      int
		report string
	)
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&sale.URL, "url", "http://"+cfg.HTTPAddr, "base URL of a running seckill serve (with -bare: the URL to POST)")
	fs.StringVar(&sale.AdminToken, "token", cfg.AdminToken, "admin token (default SECKILL_ADMIN_TOKEN)")
	fs.StringVar(&sale.BuyerSecret, "buyer-secret", cfg.BuyerSecret, "secret the buyers' tokens are minted with (default SECKILL_BUYER_JWT_SECRET; empty: no tokens, for a trusted-mode server)")
	fs.Int64Var(&sale.Stock, "stock", 10000, "stock of the product the bench lists")
	fs.IntVar(&sale.Buyers, "buyers", 20000, "distinct buyers, one request each (plus duplicates)")
	fs.IntVar(&load.Conns, "c", 64, "concurrent connections")
	fs.Float64Var(&load.Rate, "rate", 0, "fixed arrival rate in requests/s (open loop, latency from each request's scheduled time); 0 = closed loop, as fast as the connections go")
	fs.DurationVar(&load.Duration, "duration", 0, "stop after this long (or when the buyers run out); 0 = send every buyer's request")
	fs.Float64Var(&sale.DupShare, "dup", 0.05, "share of buyers that fire a burst of same-instant duplicates")
	fs.IntVar(&sale.DupBurst, "burst", 5, "requests in one duplicate burst")
	fs.Int64Var(&sale.Product, "product", 0, "product id to list (default: a fresh random id)")
	fs.DurationVar(&sale.DrainTimeout, "drain-timeout", 120*time.Second, "how long to wait for every order to reach MySQL")
	fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
	fs.BoolVar(&bare, "bare", false, "ceiling mode: POST the URL as is, a new userId in each body, no listing, no drain, no invariants")
	fs.IntVar(&n, "n", 100000, "requests in -bare mode")
	fs.BoolVar(&sale.Repeat, "repeat", false, "with -duration, start over with the first buyer when the buyers run out (a sold-out phase)")
	fs.BoolVar(&sale.NoDrain, "no-drain", false, "do not wait for MySQL (consumers stopped or far behind): check only what HTTP answered")
	fs.StringVar(&report, "report", "", "also write the run as one self-contained HTML page with charts to this file")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if load.Conns < 1 || sale.Buyers < 1 || sale.Stock < 0 || sale.DupShare < 0 || sale.DupShare > 1 || sale.DupBurst < 1 || load.Rate < 0 || load.Duration < 0 {
		return fmt.Errorf("bench: -c, -buyers and -burst must be positive, -dup within 0..1, -stock, -rate and -duration not negative: %w", errUsage)
	}
	if term.IsTerminal(int(os.Stderr.Fd())) {
		load.Progress = stderr
	}
	load.Client = loadgen.NewClient(load.Conns)
	sale.Samples = report != ""
	sale.Check = func(ctx context.Context, productID int64) []string { return checkStore(ctx, cfg, productID) }
	started := time.Now()
	var rep loadgen.Report
	if bare {
		load.URL = sale.URL
		fmt.Fprintln(stderr, "bench: load starts")
		rep = loadgen.Bare(ctx, load, n, sale.Samples)
	} else {
		var err error
		if rep, err = sale.Run(ctx, load); err != nil {
			return err
		}
	}
	if report != "" {
		if err := writeReport(report, sale.URL, rep, started); err != nil {
			return err
		}
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	rep.Print(stdout)
	if !rep.InvariantsOK {
		return errors.New("bench: invariant check failed")
	}
	return nil
}

// checkStore runs the MySQL and Redis invariants of CONTRACT.md for the bench's product, when the bench can reach
// the server's MySQL and Redis (the same SECKILL_* settings).
func checkStore(ctx context.Context, cfg Config, productID int64) []string {
	rdb, err := openRedis(ctx, cfg)
	if err != nil {
		return []string{"cannot check the tables: " + err.Error()}
	}
	defer rdb.Close()
	db, err := openMySQL(ctx, cfg)
	if err != nil {
		return []string{"cannot check the tables: " + err.Error()}
	}
	defer db.Close()
	stock, err := rdb.Get(ctx, schema.KeysFor(productID).Stock).Int64()
	if err != nil {
		return []string{fmt.Sprintf("read redis stock of product %d: %v", productID, err)}
	}
	rep, err := projections.CheckInvariantsWithRedis(ctx, db, productID, stock)
	if err != nil {
		return []string{fmt.Sprintf("check invariants of product %d: %v", productID, err)}
	}
	var out []string
	for _, f := range rep.Failures {
		out = append(out, f.Invariant+": "+f.Detail)
	}
	return out
}
