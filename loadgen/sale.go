package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/seckill/seckill/benchreport"
	"github.com/seckill/seckill/buyerauth"
)

// Report is what a scenario measured: the run's summary and, for a sale, the product, when it sold out, when
// MySQL held every order and the invariant verdict.
type Report struct {
	Mode      string `json:"mode"` // sale or bare
	ProductID int64  `json:"productId,omitempty"`
	Stock     int64  `json:"stock,omitempty"`
	Summary
	SoldOutAfter float64  `json:"soldOutAfterSeconds,omitempty"` // from the first request to the first 410
	SaleRPS      float64  `json:"saleRps,omitempty"`             // answers/s until then: the reservation phase
	DrainedAfter float64  `json:"drainedAfterSeconds,omitempty"` // from the first request until MySQL held every order
	Invariants   []string `json:"invariantFailures"`
	InvariantsOK bool     `json:"invariantsOk"`
	// Samples, when the scenario asked for them, is the run tick by tick (for benchreport).
	Samples []benchreport.Sample `json:"samples,omitempty"`
}

// FirstBuyer is the user id of a scenario's buyer 0; buyer b is FirstBuyer+b.
const FirstBuyer = 10_000_000

// Bare drives a ceiling server (tools/bareserver, tools/scriptserver): Requests POSTs (or, with Load.Duration,
// as many as fit) of `{"userId":N,"productId":1,"quantity":1}`, a new buyer N for each, no listing, no tokens,
// no invariants; with samples, the run tick by tick.
func Bare(ctx context.Context, l Load, requests int, samples bool) Report {
	reqs := func(i int) (Request, bool) {
		if i >= requests {
			return Request{}, false
		}
		user := int64(FirstBuyer + i)
		return Request{Body: fmt.Appendf(nil, `{"userId":%d,"productId":1,"quantity":1}`, user), User: user}, true
	}
	rec := NewRecorder(false)
	var smp *sampler
	if samples {
		smp = startSampler(ctx, rec, time.Now(), nil)
	}
	took := Run(ctx, l, reqs, rec)
	return Report{Mode: "bare", Summary: rec.Summarize(l, took), Invariants: []string{}, InvariantsOK: true,
		Samples: smp.Stop()}
}

// Sale is a sale against a running `seckill serve`: list a product, let Buyers buyers (a share of them firing
// bursts of same-instant duplicates) buy one unit each over Load, then, unless NoDrain, wait until MySQL holds
// every order and check the invariants.
type Sale struct {
	URL        string // base URL of seckill serve
	AdminToken string
	// BuyerSecret mints one HS256 token per buyer before the load starts (so minting is not measured); empty
	// sends no Authorization header (a trusted-mode server).
	BuyerSecret string
	Product     int64 // product id to list; 0 is a fresh random one
	Stock       int64
	Buyers      int
	DupShare    float64 // share of buyers that fire a burst of duplicates, 0..1
	DupBurst    int     // requests in one burst
	// Repeat starts over with the first buyer when the buyers run out before Load.Duration (for a sold-out phase,
	// where every answer is 410 anyway); without it the run ends there.
	Repeat       bool
	NoDrain      bool // check only what HTTP answered, not MySQL
	DrainTimeout time.Duration
	// Check runs the store's invariants of the product once it is drained (MySQL and Redis), returning what
	// failed; nil checks nothing beyond the audit endpoint.
	Check func(ctx context.Context, productID int64) []string
	// Samples records the run tick by tick, with the stock from the audit endpoint, for a benchreport page.
	Samples bool
	Log     io.Writer // a line when the product is listed, and one when the load starts (after minting)
}

// Run runs the sale. The load goes to URL + /seckill/kill with l's connections, rate and duration.
func (s Sale) Run(ctx context.Context, l Load) (Report, error) {
	base := strings.TrimRight(s.URL, "/")
	client := l.Client
	if client == nil {
		client = NewClient(l.Conns)
		l.Client = client
	}
	if s.Product == 0 {
		s.Product = 1_000_000_000 + rand.Int64N(1_000_000_000)
	}
	body := fmt.Sprintf(`{"id":%d,"name":"bench %d","price":6999,"stock":%d}`, s.Product, s.Product, s.Stock)
	var listed struct {
		Code    int
		Message string
	}
	if err := adminCall(ctx, client, http.MethodPost, base+"/admin/products", s.AdminToken, body, &listed); err != nil {
		return Report{}, fmt.Errorf("bench: list product %d: %w", s.Product, err)
	}
	if listed.Code != http.StatusCreated {
		return Report{}, fmt.Errorf("bench: list product %d: %d %s", s.Product, listed.Code, listed.Message)
	}
	if s.Log != nil {
		fmt.Fprintf(s.Log, "bench: listed product %d with stock %d; %d buyers over %d connections\n", s.Product, s.Stock, s.Buyers, l.Conns)
	}
	all, err := s.requests()
	if err != nil {
		return Report{}, err
	}
	if s.Log != nil {
		fmt.Fprintf(s.Log, "bench: %d requests ready; load starts\n", len(all))
	}
	rec := NewRecorder(true)
	start := time.Now()
	var smp *sampler
	if s.Samples {
		smp = startSampler(ctx, rec, start, auditStock(client, base, s.AdminToken, s.Product))
	}
	l.URL = base + "/seckill/kill"
	took := Run(ctx, l, func(i int) (Request, bool) {
		if s.Repeat && len(all) > 0 {
			i %= len(all)
		}
		if i >= len(all) {
			return Request{}, false
		}
		return all[i], true
	}, rec)
	rep := Report{Mode: "sale", ProductID: s.Product, Stock: s.Stock, Summary: rec.Summarize(l, took), Invariants: []string{}}
	rec.mu.Lock()
	if !rec.firstGone.IsZero() {
		rep.SoldOutAfter = rec.firstGone.Sub(start).Seconds()
		rep.SaleRPS = float64(rec.beforeGone) / rep.SoldOutAfter
	}
	for user, n := range rec.okByUser {
		if n > 1 {
			rep.Invariants = append(rep.Invariants, fmt.Sprintf("user %d got %d reservations", user, n))
			break
		}
	}
	rec.mu.Unlock()
	ok := rep.Codes[http.StatusOK]
	if int64(ok) > s.Stock {
		rep.Invariants = append(rep.Invariants, fmt.Sprintf("oversold: %d reservations for stock %d", ok, s.Stock))
	}
	if !s.NoDrain {
		drained, failures, err := s.waitDrained(ctx, client, base, ok, start)
		if err != nil {
			return rep, err
		}
		rep.DrainedAfter = drained
		rep.Invariants = append(rep.Invariants, failures...)
		if s.Check != nil {
			rep.Invariants = append(rep.Invariants, s.Check(ctx, s.Product)...)
		}
	}
	rep.InvariantsOK = len(rep.Invariants) == 0
	rep.Samples = smp.Stop()
	return rep, nil
}

// requests builds every request of the sale, buyer by buyer, bursts in place, tokens minted now.
func (s Sale) requests() ([]Request, error) {
	var out []Request
	rng := rand.New(rand.NewPCG(uint64(s.Product), 42))
	minted := time.Now()
	for b := range s.Buyers {
		user := int64(FirstBuyer + b)
		n := 1
		if rng.Float64() < s.DupShare {
			n = max(s.DupBurst, 1)
		}
		var auth string
		if s.BuyerSecret != "" {
			tok, err := buyerauth.Mint([]byte(s.BuyerSecret), user, time.Hour, minted)
			if err != nil {
				return nil, fmt.Errorf("bench: %w", err)
			}
			auth = "Bearer " + tok
		}
		body := fmt.Appendf(nil, `{"userId":%d,"productId":%d,"quantity":1}`, user, s.Product)
		for range n {
			out = append(out, Request{Body: body, Auth: auth, User: user})
		}
	}
	return out, nil
}

// waitDrained polls the audit endpoint until MySQL holds every reservation and nothing is pending, and returns
// the seconds since start, or the audit's complaints if it never got there.
func (s Sale) waitDrained(ctx context.Context, client *http.Client, base string, ok int, start time.Time) (float64, []string, error) {
	deadline := time.Now().Add(s.DrainTimeout)
	var last struct {
		Code int
		Data struct {
			InitialStock, RedisStock, Reserved, MySQLStock, Orders, Cancelled, PendingEvents int64
			Consistent                                                                       bool
			Failures                                                                         []string
		}
	}
	for {
		if err := adminCall(ctx, client, http.MethodGet, fmt.Sprintf("%s/admin/products/%d/audit", base, s.Product), s.AdminToken, "", &last); err != nil {
			return 0, nil, fmt.Errorf("bench: audit: %w", err)
		}
		d := last.Data
		if last.Code == http.StatusOK && d.Orders == int64(ok) && d.PendingEvents == 0 && d.Consistent {
			return time.Since(start).Seconds(), nil, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return 0, []string{fmt.Sprintf("not drained after %s: audit %+v, %d reservations answered 200", s.DrainTimeout, d, ok)}, nil
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
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

// auditStock reads the product's stock in Redis and MySQL, and its orders in MySQL, from the admin audit endpoint.
func auditStock(client *http.Client, base, token string, product int64) func(context.Context) (int64, int64, int64, error) {
	return func(ctx context.Context) (int64, int64, int64, error) {
		var a struct {
			Code int
			Data struct{ RedisStock, MySQLStock, Orders int64 }
		}
		if err := adminCall(ctx, client, http.MethodGet, fmt.Sprintf("%s/admin/products/%d/audit", base, product), token, "", &a); err != nil {
			return 0, 0, 0, err
		}
		if a.Code != http.StatusOK {
			return 0, 0, 0, fmt.Errorf("audit of product %d: %d", product, a.Code)
		}
		return a.Data.RedisStock, a.Data.MySQLStock, a.Data.Orders, nil
	}
}

// Print writes the report for people.
func (r Report) Print(w io.Writer) {
	fmt.Fprintf(w, "mode            %s\n", r.Mode)
	if r.Mode == "sale" {
		fmt.Fprintf(w, "product         %d (stock %d)\n", r.ProductID, r.Stock)
	}
	fmt.Fprintf(w, "requests        %d over %d connections in %.2fs", r.Requests, r.Conns, r.Seconds)
	if r.Rate > 0 {
		fmt.Fprintf(w, " (open loop at %.0f/s)", r.Rate)
	}
	if r.Exhausted {
		fmt.Fprint(w, " (ran out of buyers before the duration)")
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
