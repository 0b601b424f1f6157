package loadgen

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestPercentileIsTheNearestRank(t *testing.T) {
	var lat []time.Duration
	for i := 1; i <= 1000; i++ {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		p    float64
		want float64
	}{{.5, 500}, {.9, 900}, {.99, 990}, {.999, 999}, {1, 1000}, {0, 1}} {
		if got := Percentile(lat, c.p); got != c.want {
			t.Errorf("p%v of 1..1000 ms = %v ms, want %v", c.p*100, got, c.want)
		}
	}
	if got := Percentile(lat[:100], .99); got != 99 {
		t.Errorf("p99 of 1..100 ms = %v, want 99 (0.99*100 must not round up to 100)", got)
	}
	if got := Percentile(nil, .99); got != 0 {
		t.Errorf("p99 of nothing = %v, want 0", got)
	}
}

// TestOpenLoopCountsLatencyFromTheScheduledTime: one connection, ten requests due 10 ms apart, and a server that
// holds the first answer for 300 ms. The nine requests behind it wait for the connection; counted from when they
// were due, each waited at least 300 ms minus its offset, so none is under 200 ms (counted from when they were sent,
// as a closed loop would, they would be near 0).
func TestOpenLoopCountsLatencyFromTheScheduledTime(t *testing.T) {
	var first atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if first.CompareAndSwap(false, true) {
			time.Sleep(300 * time.Millisecond)
		}
	}))
	defer srv.Close()
	rec := NewRecorder(false)
	l := Load{URL: srv.URL, Conns: 1, Rate: 100, Duration: 100 * time.Millisecond}
	Run(context.Background(), l, func(i int) (Request, bool) { return Request{Body: []byte(`{}`)}, true }, rec)
	s := rec.Summarize(l, time.Second)
	if s.Requests != 10 || s.Codes[200] != 10 {
		t.Fatalf("100 ms at 100/s sent %d requests (answers %v), want 10", s.Requests, s.Codes)
	}
	lat := slices.Clone(rec.latencies)
	slices.Sort(lat)
	if lat[0] < 200*time.Millisecond {
		t.Errorf("fastest latency %v: the wait behind the stalled answer was not counted (latencies %v)", lat[0], lat)
	}
	if s.LatencyMs["p50"] < 200 {
		t.Errorf("p50 %v ms, want at least 200", s.LatencyMs["p50"])
	}
}

// TestClosedLoopStopsAtItsDuration: a closed loop with a duration sends until the duration is over, then stops,
// and says it was not cut short by running out of requests.
func TestClosedLoopStopsAtItsDuration(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	rec := NewRecorder(false)
	l := Load{URL: srv.URL, Conns: 4, Duration: 200 * time.Millisecond}
	took := Run(context.Background(), l, func(i int) (Request, bool) { return Request{}, true }, rec)
	s := rec.Summarize(l, took)
	if took < 200*time.Millisecond || took > 2*time.Second {
		t.Errorf("a 200 ms run took %v", took)
	}
	if s.Requests == 0 || s.Codes[200] != s.Requests || s.Exhausted {
		t.Errorf("summary %+v, want only 200s and not exhausted", s)
	}
}

// TestARunEndsWhenItsRequestsDo: the requests end before the duration; the run stops and says so.
func TestARunEndsWhenItsRequestsDo(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	rec := NewRecorder(false)
	l := Load{URL: srv.URL, Conns: 3, Duration: time.Minute}
	took := Run(context.Background(), l, func(i int) (Request, bool) { return Request{}, i < 5 }, rec)
	s := rec.Summarize(l, took)
	if s.Requests != 5 || !s.Exhausted || took > 5*time.Second {
		t.Errorf("5 requests within a minute: took %v, summary %+v", took, s)
	}
	rec = NewRecorder(false)
	l.Duration = 0
	if s := rec.Summarize(l, Run(context.Background(), l, func(i int) (Request, bool) { return Request{}, i < 5 }, rec)); s.Requests != 5 || s.Exhausted {
		t.Errorf("5 requests with no duration: summary %+v, want 5 and not exhausted (they were the whole run)", s)
	}
}

// TestBareSendsANewBuyerPerRequestAndCountsEveryAnswer: a server that answers 200 to even user ids and 410 to odd
// ones, and drops the connection of every tenth: the codes and transport errors add up to what it did, and every
// request named a buyer of its own.
func TestBareSendsANewBuyerPerRequestAndCountsEveryAnswer(t *testing.T) {
	var mu sync.Mutex
	seen := map[int64]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct{ UserID int64 }
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Errorf("body: %v", err)
		}
		mu.Lock()
		seen[body.UserID]++
		mu.Unlock()
		switch {
		case body.UserID%10 == 9:
			conn, _, _ := w.(http.Hijacker).Hijack()
			_ = conn.Close()
		case body.UserID%2 == 0:
			w.WriteHeader(http.StatusOK)
		default:
			w.WriteHeader(http.StatusGone)
		}
	}))
	rep := Bare(context.Background(), Load{URL: srv.URL, Conns: 8}, 100, false)
	srv.Close() // waits for handlers still running after their client gave up, so seen is final
	mu.Lock()
	defer mu.Unlock()
	if rep.Codes[200] != 50 || rep.Codes[410] != 40 || rep.Errors != 10 || rep.Requests != 100 {
		t.Errorf("answers %v, transport errors %d, requests %d; want 200×50 410×40, 10 errors, 100", rep.Codes, rep.Errors, rep.Requests)
	}
	if len(seen) != 100 {
		t.Errorf("%d distinct buyers in 100 requests", len(seen))
	}
	for u, n := range seen {
		if n != 1 || u < FirstBuyer || u >= FirstBuyer+100 {
			t.Errorf("buyer %d sent %d requests", u, n)
		}
	}
}

// fakeSeckill is a server that lists any product and answers every buy 200: it oversells, and gives a buyer who
// asks twice two reservations.
func fakeSeckill(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /admin/products", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer admin" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"code":401,"message":"unauthorized"}`))
			return
		}
		_, _ = w.Write([]byte(`{"code":201,"message":"listed"}`))
	})
	mux.HandleFunc("POST /seckill/kill", func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ey") {
			w.WriteHeader(http.StatusUnauthorized)
		}
		time.Sleep(time.Millisecond)
	})
	mux.HandleFunc("GET /admin/products/{id}/audit", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"code":200,"data":{"redisStock":7,"mysqlStock":9,"orders":1}}`))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// TestASaleCatchesOversellingAndDoubleReservations: without draining, the sale's verdict rests on the answers
// alone, and it fails a server that reserved more than the stock and twice for one buyer.
func TestASaleCatchesOversellingAndDoubleReservations(t *testing.T) {
	srv := fakeSeckill(t)
	s := Sale{URL: srv.URL, AdminToken: "admin", BuyerSecret: strings.Repeat("s", 32), Stock: 3, Buyers: 20,
		DupShare: 1, DupBurst: 2, NoDrain: true}
	rep, err := s.Run(context.Background(), Load{Conns: 4})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Codes[200] != 40 {
		t.Fatalf("answers %v, want 40 × 200 (20 buyers, bursts of 2, each with a token)", rep.Codes)
	}
	joined := strings.Join(rep.Invariants, "; ")
	if rep.InvariantsOK || !strings.Contains(joined, "oversold: 40 reservations for stock 3") || !strings.Contains(joined, "got 2 reservations") {
		t.Errorf("verdict %v %q, want oversold and a double reservation", rep.InvariantsOK, joined)
	}
}

// TestASaleStopsWhenTheListingFails: a product the server refuses to list is an error, and no buy is sent.
func TestASaleStopsWhenTheListingFails(t *testing.T) {
	srv := fakeSeckill(t)
	_, err := Sale{URL: srv.URL, AdminToken: "wrong", Stock: 1, Buyers: 1}.Run(context.Background(), Load{Conns: 1})
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("listing with a wrong admin token: %v, want a 401 error", err)
	}
}

// TestARepeatingSaleCyclesItsBuyersForTheWholeDuration: with Repeat, three buyers last a 200 ms run: the requests
// go on past the third, and the run is not cut short.
func TestARepeatingSaleCyclesItsBuyersForTheWholeDuration(t *testing.T) {
	srv := fakeSeckill(t)
	s := Sale{URL: srv.URL, AdminToken: "admin", BuyerSecret: strings.Repeat("s", 32), Stock: 100, Buyers: 3,
		Repeat: true, NoDrain: true}
	rep, err := s.Run(context.Background(), Load{Conns: 2, Duration: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Requests <= 3 || rep.Exhausted || rep.Seconds < .2 {
		t.Errorf("%d requests in %.2fs, exhausted %v: want more than 3 buyers' worth over the whole 0.2 s", rep.Requests, rep.Seconds, rep.Exhausted)
	}
}

// TestASampledSaleRecordsEveryAnswerOnceWithTheStock: with Samples, the ticks of the run add up to every answer,
// and each tick carries the stock the audit endpoint reported.
func TestASampledSaleRecordsEveryAnswerOnceWithTheStock(t *testing.T) {
	srv := fakeSeckill(t)
	s := Sale{URL: srv.URL, AdminToken: "admin", BuyerSecret: strings.Repeat("s", 32), Stock: 1000, Buyers: 300,
		NoDrain: true, Samples: true}
	rep, err := s.Run(context.Background(), Load{Conns: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Samples) < 2 {
		t.Fatalf("%d samples of a %.2fs run, want at least 2", len(rep.Samples), rep.Seconds)
	}
	answers := 0
	for i, smp := range rep.Samples {
		for _, n := range smp.Codes {
			answers += n
		}
		if smp.Redis == nil || *smp.Redis != 7 || smp.MySQL == nil || *smp.MySQL != 9 || smp.OrdersSQL == nil || *smp.OrdersSQL != 1 {
			t.Errorf("sample %d: stock %v %v %v, want the audit's 7, 9 and 1", i, smp.Redis, smp.MySQL, smp.OrdersSQL)
		}
	}
	if answers != 300 || rep.Codes[200] != 300 {
		t.Errorf("the samples hold %d answers, the report %v; want 300 each", answers, rep.Codes)
	}
}
