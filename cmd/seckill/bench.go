package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/term"

	"github.com/seckill/seckill/benchreport"
	"github.com/seckill/seckill/buyerauth"
	"github.com/seckill/seckill/projections"
	"github.com/seckill/seckill/schema"
)

// benchOptions are the flags of `seckill bench`.
type benchOptions struct {
	URL          string
	Token        string
	BuyerSecret  string
	Stock        int64
	Buyers       int
	Conns        int
	Rate         float64
	DupShare     float64
	DupBurst     int
	Product      int64
	DrainTimeout time.Duration
	JSON         bool
	Bare         bool
	Requests     int
	NoDrain      bool
	Report       string
}

// BenchReport is what `seckill bench` prints (and, with -json, its JSON form).
type BenchReport struct {
	Mode         string             `json:"mode"`
	ProductID    int64              `json:"productId,omitempty"`
	Stock        int64              `json:"stock,omitempty"`
	Requests     int                `json:"requests"`
	Conns        int                `json:"conns"`
	Rate         float64            `json:"rate,omitempty"`
	Seconds      float64            `json:"seconds"`
	RPS          float64            `json:"rps"`
	LatencyMs    map[string]float64 `json:"latencyMs"`
	Codes        map[int]int        `json:"codes"`
	Errors       int                `json:"errors"`
	SoldOutAfter float64            `json:"soldOutAfterSeconds,omitempty"`
	SaleRPS      float64            `json:"saleRps,omitempty"`
	DrainedAfter float64            `json:"drainedAfterSeconds,omitempty"`
	Invariants   []string           `json:"invariantFailures"`
	InvariantsOK bool               `json:"invariantsOk"`

	// Samples, with -report, is the run tick by tick.
	Samples []benchreport.Sample `json:"samples,omitempty"`
}

func bench(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	o := benchOptions{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.URL, "url", "http://"+cfg.HTTPAddr, "base URL of a running seckill serve")
	fs.StringVar(&o.Token, "token", cfg.AdminToken, "admin token (default SECKILL_ADMIN_TOKEN)")
	fs.StringVar(&o.BuyerSecret, "buyer-secret", cfg.BuyerSecret, "secret the buyers' tokens are minted with (default SECKILL_BUYER_JWT_SECRET; empty: no tokens, for a trusted-mode server)")
	fs.Int64Var(&o.Stock, "stock", 10000, "stock of the product the bench lists")
	fs.IntVar(&o.Buyers, "buyers", 20000, "distinct buyers, one request each (plus duplicates)")
	fs.IntVar(&o.Conns, "c", 64, "concurrent connections")
	fs.Float64Var(&o.Rate, "rate", 0, "fixed arrival rate in requests/s (open loop); 0 = closed loop, as fast as the connections go")
	fs.Float64Var(&o.DupShare, "dup", 0.05, "share of buyers that fire a burst of same-instant duplicates")
	fs.IntVar(&o.DupBurst, "burst", 5, "requests in one duplicate burst")
	fs.Int64Var(&o.Product, "product", 0, "product id to list (default: a fresh random id)")
	fs.DurationVar(&o.DrainTimeout, "drain-timeout", 120*time.Second, "how long to wait for every order to reach MySQL")
	fs.BoolVar(&o.JSON, "json", false, "print the report as JSON")
	fs.BoolVar(&o.Bare, "bare", false, "ceiling mode: POST the URL as is, no listing, no drain, no invariants")
	fs.IntVar(&o.Requests, "n", 100000, "requests in -bare mode")
	fs.BoolVar(&o.NoDrain, "no-drain", false, "do not wait for MySQL (consumers stopped): check only what HTTP answered")
	fs.StringVar(&o.Report, "report", "", "also write the run as one self-contained HTML page with charts to this file")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if o.Conns < 1 || o.Buyers < 1 || o.Stock < 0 || o.DupShare < 0 || o.DupShare > 1 || o.DupBurst < 1 || o.Rate < 0 {
		return fmt.Errorf("bench: -c, -buyers and -burst must be positive, -dup within 0..1, -stock and -rate not negative: %w", errUsage)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		MaxIdleConns: o.Conns * 2, MaxIdleConnsPerHost: o.Conns * 2, MaxConnsPerHost: o.Conns,
		DialContext: (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext}}
	progress := term.IsTerminal(int(os.Stderr.Fd()))
	var rep BenchReport
	var err error
	started := time.Now()
	if o.Bare {
		rep, err = benchBare(ctx, o, client, stderr, progress)
	} else {
		rep, err = benchSale(ctx, cfg, o, client, stderr, progress)
	}
	if err != nil {
		return err
	}
	if o.Report != "" {
		if err := writeReport(o.Report, o, rep, started); err != nil {
			return err
		}
	}
	if o.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printReport(stdout, rep)
	if !rep.InvariantsOK {
		return errors.New("bench: invariant check failed")
	}
	return nil
}

// shot is one request to send: the body and the buyer's Authorization header (empty: none).
type shot struct {
	body []byte
	auth string
	at   time.Time // scheduled send time (open loop), zero in closed loop
}

type recorder struct {
	mu        sync.Mutex
	latencies []time.Duration
	codes     map[int]int
	errors    int
	firstGone time.Time
	beforeOut int // answers received before the first 410
	okByUser  map[int64]int
	sent      atomic.Int64
}

func (r *recorder) add(lat time.Duration, code int, user int64, err error) {
	r.sent.Add(1)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.errors++
		return
	}
	r.latencies = append(r.latencies, lat)
	r.codes[code]++
	if code == http.StatusOK && r.okByUser != nil {
		r.okByUser[user]++
	}
	if code == http.StatusGone && r.firstGone.IsZero() {
		r.firstGone = time.Now()
	}
	if r.firstGone.IsZero() {
		r.beforeOut++
	}
}

// drive sends the shots with o.Conns connections, closed loop or at o.Rate, and records the answers.
func drive(ctx context.Context, o benchOptions, client *http.Client, url string, shots []shot, users []int64, rec *recorder, stderr io.Writer, progress bool) time.Duration {
	start := time.Now()
	if o.Rate > 0 {
		interval := time.Duration(float64(time.Second) / o.Rate)
		for i := range shots {
			shots[i].at = start.Add(time.Duration(i) * interval)
		}
	}
	stopProgress := make(chan struct{})
	if progress {
		go func() {
			t := time.NewTicker(500 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stopProgress:
					fmt.Fprint(stderr, "\r\033[K")
					return
				case <-t.C:
					n := rec.sent.Load()
					el := time.Since(start).Seconds()
					fmt.Fprintf(stderr, "\r\033[K%d/%d requests  %.0f req/s  %.1fs", n, len(shots), float64(n)/el, el)
				}
			}
		}()
	}
	next := atomic.Int64{}
	var wg sync.WaitGroup
	for range o.Conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= len(shots) {
					return
				}
				s := shots[i]
				sendAt := time.Now()
				if !s.at.IsZero() {
					if d := time.Until(s.at); d > 0 {
						time.Sleep(d)
					}
					sendAt = s.at // latency from the scheduled time: no coordinated omission
				}
				code, err := post(ctx, client, url, s.body, s.auth)
				rec.add(time.Since(sendAt), code, users[i], err)
			}
		}()
	}
	wg.Wait()
	close(stopProgress)
	return time.Since(start)
}

func post(ctx context.Context, client *http.Client, url string, body []byte, auth string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

func benchBare(ctx context.Context, o benchOptions, client *http.Client, stderr io.Writer, progress bool) (BenchReport, error) {
	shots := make([]shot, o.Requests)
	users := make([]int64, o.Requests)
	body := []byte(`{"userId":1,"productId":1,"quantity":1}`)
	for i := range shots {
		shots[i].body = body
	}
	rec := &recorder{codes: map[int]int{}}
	smp := o.sampler(ctx, rec, time.Now(), nil)
	took := drive(ctx, o, client, o.URL, shots, users, rec, stderr, progress)
	rep := summarize("bare", o, rec, took)
	rep.InvariantsOK = true
	rep.Samples = smp.Stop()
	return rep, nil
}

func benchSale(ctx context.Context, cfg Config, o benchOptions, client *http.Client, stderr io.Writer, progress bool) (BenchReport, error) {
	base := strings.TrimRight(o.URL, "/")
	if o.Product == 0 {
		o.Product = 1_000_000_000 + rand.Int64N(1_000_000_000)
	}
	body := fmt.Sprintf(`{"id":%d,"name":"bench %d","price":6999,"stock":%d}`, o.Product, o.Product, o.Stock)
	var listed struct {
		Code    int
		Message string
	}
	if err := adminCall(ctx, client, http.MethodPost, base+"/admin/products", o.Token, body, &listed); err != nil {
		return BenchReport{}, fmt.Errorf("bench: list product %d: %w", o.Product, err)
	}
	if listed.Code != http.StatusCreated {
		return BenchReport{}, fmt.Errorf("bench: list product %d: %d %s", o.Product, listed.Code, listed.Message)
	}
	fmt.Fprintf(stderr, "bench: listed product %d with stock %d; %d buyers over %d connections\n", o.Product, o.Stock, o.Buyers, o.Conns)

	// Every buyer's token is minted here, before the load starts, so minting is not measured.
	var shots []shot
	var users []int64
	rng := rand.New(rand.NewPCG(uint64(o.Product), 42))
	minted := time.Now()
	for b := range o.Buyers {
		user := int64(10_000_000 + b)
		n := 1
		if rng.Float64() < o.DupShare {
			n = o.DupBurst
		}
		var auth string
		if o.BuyerSecret != "" {
			tok, err := buyerauth.Mint([]byte(o.BuyerSecret), user, time.Hour, minted)
			if err != nil {
				return BenchReport{}, fmt.Errorf("bench: %w", err)
			}
			auth = "Bearer " + tok
		}
		for range n {
			shots = append(shots, shot{body: fmt.Appendf(nil, `{"userId":%d,"productId":%d,"quantity":1}`, user, o.Product), auth: auth})
			users = append(users, user)
		}
	}
	rec := &recorder{codes: map[int]int{}, okByUser: map[int64]int{}}
	start := time.Now()
	smp := o.sampler(ctx, rec, start, auditStock(client, base, o.Token, o.Product))
	took := drive(ctx, o, client, base+"/seckill/kill", shots, users, rec, stderr, progress)
	rep := summarize("sale", o, rec, took)
	rep.ProductID, rep.Stock = o.Product, o.Stock
	if !rec.firstGone.IsZero() {
		rep.SoldOutAfter = rec.firstGone.Sub(start).Seconds()
		rep.SaleRPS = float64(rec.beforeOut) / rep.SoldOutAfter
	}
	ok := rec.codes[http.StatusOK]
	if ok > int(o.Stock) {
		rep.Invariants = append(rep.Invariants, fmt.Sprintf("oversold: %d reservations for stock %d", ok, o.Stock))
	}
	for user, n := range rec.okByUser {
		if n > 1 {
			rep.Invariants = append(rep.Invariants, fmt.Sprintf("user %d got %d reservations", user, n))
			break
		}
	}
	if o.NoDrain {
		rep.InvariantsOK = len(rep.Invariants) == 0
		rep.Samples = smp.Stop()
		return rep, nil
	}
	drained, failures, err := waitDrained(ctx, client, base, o, ok, start)
	if err != nil {
		return rep, err
	}
	rep.DrainedAfter = drained
	rep.Invariants = append(rep.Invariants, failures...)
	rep.Invariants = append(rep.Invariants, checkStore(ctx, cfg, o.Product)...)
	rep.InvariantsOK = len(rep.Invariants) == 0
	rep.Samples = smp.Stop()
	return rep, nil
}

// waitDrained polls the audit endpoint until MySQL holds every reservation and nothing is pending, and returns
// the seconds since start, plus the audit's complaints if it never got there.
func waitDrained(ctx context.Context, client *http.Client, base string, o benchOptions, ok int, start time.Time) (float64, []string, error) {
	deadline := time.Now().Add(o.DrainTimeout)
	var last struct {
		Code int
		Data struct {
			InitialStock, RedisStock, Reserved, MySQLStock, Orders, Cancelled, PendingEvents int64
			Consistent                                                                       bool
			Failures                                                                         []string
		}
	}
	for {
		if err := adminCall(ctx, client, http.MethodGet, fmt.Sprintf("%s/admin/products/%d/audit", base, o.Product), o.Token, "", &last); err != nil {
			return 0, nil, fmt.Errorf("bench: audit: %w", err)
		}
		d := last.Data
		if last.Code == http.StatusOK && d.Orders == int64(ok) && d.PendingEvents == 0 && d.Consistent {
			return time.Since(start).Seconds(), nil, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return 0, []string{fmt.Sprintf("not drained after %s: audit %+v, %d reservations answered 200", o.DrainTimeout, d, ok)}, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func adminCall(ctx context.Context, client *http.Client, method, url, token, body string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(out)
}

func summarize(mode string, o benchOptions, rec *recorder, took time.Duration) BenchReport {
	lat := slices.Clone(rec.latencies)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		i := int(p * float64(len(lat)-1))
		return float64(lat[i].Microseconds()) / 1000
	}
	n := len(lat) + rec.errors
	return BenchReport{Mode: mode, Requests: n, Conns: o.Conns, Rate: o.Rate, Seconds: took.Seconds(),
		RPS: float64(n) / took.Seconds(), Codes: rec.codes, Errors: rec.errors, Invariants: []string{},
		LatencyMs: map[string]float64{"p50": pct(.50), "p90": pct(.90), "p99": pct(.99), "p999": pct(.999), "max": pct(1)}}
}

func printReport(w io.Writer, r BenchReport) {
	fmt.Fprintf(w, "mode            %s\n", r.Mode)
	if r.Mode == "sale" {
		fmt.Fprintf(w, "product         %d (stock %d)\n", r.ProductID, r.Stock)
	}
	fmt.Fprintf(w, "requests        %d over %d connections in %.2fs", r.Requests, r.Conns, r.Seconds)
	if r.Rate > 0 {
		fmt.Fprintf(w, " (open loop at %.0f/s)", r.Rate)
	}
	fmt.Fprintf(w, "\nthroughput      %.0f req/s\n", r.RPS)
	fmt.Fprintf(w, "latency ms      p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f\n",
		r.LatencyMs["p50"], r.LatencyMs["p90"], r.LatencyMs["p99"], r.LatencyMs["p999"], r.LatencyMs["max"])
	codes := make([]int, 0, len(r.Codes))
	for c := range r.Codes {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	fmt.Fprint(w, "answers        ")
	for _, c := range codes {
		fmt.Fprintf(w, " %d×%d", c, r.Codes[c])
	}
	if r.Errors > 0 {
		fmt.Fprintf(w, " transport-errors×%d", r.Errors)
	}
	fmt.Fprintln(w)
	if r.Mode != "sale" {
		return
	}
	if r.SoldOutAfter > 0 {
		fmt.Fprintf(w, "sold out after  %.2fs (%.0f req/s until then, while every answer reserved or refused a duplicate)\n",
			r.SoldOutAfter, r.SaleRPS)
	}
	if r.DrainedAfter > 0 {
		fmt.Fprintf(w, "all in MySQL    %.2fs after the first request\n", r.DrainedAfter)
	}
	if r.InvariantsOK {
		fmt.Fprintln(w, "invariants      PASS")
		return
	}
	fmt.Fprintln(w, "invariants      FAIL")
	for _, f := range r.Invariants {
		fmt.Fprintf(w, "  - %s\n", f)
	}
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
