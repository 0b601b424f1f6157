// Package loadgen is the load generator of `seckill bench` and `make bench`: it sends HTTP requests over a fixed
// number of connections, closed loop (each connection sends its next request when the previous answer arrives)
// or open loop (request i is due at start + i/rate, and its latency counts from that due time, so a server that
// stalls is charged for the requests queued behind the stall: no coordinated omission), for a fixed number of
// requests or a fixed duration, and records every answer. The scenarios on top of it (a sale against
// `seckill serve`, a ceiling server) are in sale.go.
package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Request is one request of a run: the JSON body, the Authorization header (empty: none) and the buyer it is for
// (counted per buyer when the recorder counts reservations per buyer).
type Request struct {
	Body []byte
	Auth string
	User int64
}

// Requests yields the i-th request of a run (i counts from 0); false ends the run. It is called from every
// connection's goroutine at once, each i exactly once, so it must be safe for concurrent use.
type Requests func(i int) (Request, bool)

// Load is how a run sends: where, over how many connections, at which rate and for how long.
type Load struct {
	Client *http.Client // NewClient(Conns) when nil
	URL    string       // every request is a POST of its body to this URL
	Conns  int          // concurrent connections, at least 1
	// Rate is the open-loop arrival rate in requests/s; 0 is closed loop, as fast as the connections go.
	Rate float64
	// Duration ends the run once it has passed (open loop: the last request is the last one due before it);
	// 0 runs until Requests ends.
	Duration time.Duration
	// Progress, when set, gets a progress line every half second (a terminal's stderr).
	Progress io.Writer
}

// NewClient is an HTTP client that keeps exactly conns connections to one host.
func NewClient(conns int) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		MaxIdleConns: conns * 2, MaxIdleConnsPerHost: conns * 2, MaxConnsPerHost: conns,
		DialContext: (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext}}
}

// Run sends reqs as l says until they end, l.Duration passes or ctx is cancelled, records every answer in rec
// and returns how long it took from the first request to the last answer.
func Run(ctx context.Context, l Load, reqs Requests, rec *Recorder) time.Duration {
	client := l.Client
	if client == nil {
		client = NewClient(l.Conns)
	}
	start := time.Now()
	var interval time.Duration
	if l.Rate > 0 {
		interval = time.Duration(float64(time.Second) / l.Rate)
	}
	stopProgress := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		if l.Progress == nil {
			return
		}
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stopProgress:
				fmt.Fprint(l.Progress, "\r\033[K")
				return
			case <-t.C:
				n, el := rec.sent.Load(), time.Since(start).Seconds()
				fmt.Fprintf(l.Progress, "\r\033[K%d requests  %.0f req/s  %.1fs", n, float64(n)/el, el)
			}
		}
	}()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range max(l.Conns, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				sendAt := time.Now()
				if interval > 0 {
					due := start.Add(time.Duration(i) * interval)
					if l.Duration > 0 && due.Sub(start) >= l.Duration {
						return
					}
					if d := time.Until(due); d > 0 {
						time.Sleep(d)
					}
					sendAt = due // latency from the scheduled time: no coordinated omission
				} else if l.Duration > 0 && sendAt.Sub(start) >= l.Duration {
					return
				}
				r, ok := reqs(i)
				if !ok {
					rec.exhausted.Store(l.Duration > 0)
					return
				}
				code, err := post(ctx, client, l.URL, r)
				rec.Add(time.Since(sendAt), code, r.User, err)
			}
		}()
	}
	wg.Wait()
	close(stopProgress)
	<-progressDone
	return time.Since(start)
}

func post(ctx context.Context, client *http.Client, url string, r Request) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(r.Body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if r.Auth != "" {
		req.Header.Set("Authorization", r.Auth)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// Recorder keeps the answers of a run. It is safe for concurrent use.
type Recorder struct {
	mu         sync.Mutex
	latencies  []time.Duration
	codes      map[int]int
	errors     int
	firstGone  time.Time // when the first 410 arrived
	beforeGone int       // answers received before it
	okByUser   map[int64]int
	sent       atomic.Int64
	exhausted  atomic.Bool
}

// NewRecorder returns an empty recorder; with byUser it also counts the 200s of each buyer.
func NewRecorder(byUser bool) *Recorder {
	r := &Recorder{codes: map[int]int{}}
	if byUser {
		r.okByUser = map[int64]int{}
	}
	return r
}

// Add records one answer: its latency and status code, or the transport error that replaced it.
func (r *Recorder) Add(lat time.Duration, code int, user int64, err error) {
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
		r.beforeGone++
	}
}

// since returns the latencies recorded after the first seen ones, and the codes and transport errors so far.
func (r *Recorder) since(seen int) ([]time.Duration, map[int]int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.latencies[seen:]), maps.Clone(r.codes), r.errors
}

// Summary is what a run measured.
type Summary struct {
	Requests  int                `json:"requests"` // answers plus transport errors
	Conns     int                `json:"conns"`
	Rate      float64            `json:"rate,omitempty"`
	Seconds   float64            `json:"seconds"`
	RPS       float64            `json:"rps"`
	LatencyMs map[string]float64 `json:"latencyMs"` // p50, p90, p99, p999, max
	Codes     map[int]int        `json:"codes"`
	Errors    int                `json:"errors"`
	// Exhausted is true when a run with a duration ran out of requests first: it was shorter than asked.
	Exhausted bool `json:"exhausted,omitempty"`
}

// Summarize computes the summary of a finished run that took took.
func (r *Recorder) Summarize(l Load, took time.Duration) Summary {
	r.mu.Lock()
	lat := slices.Clone(r.latencies)
	s := Summary{Conns: l.Conns, Rate: l.Rate, Seconds: took.Seconds(), Codes: maps.Clone(r.codes), Errors: r.errors,
		Exhausted: r.exhausted.Load()}
	r.mu.Unlock()
	slices.Sort(lat)
	s.Requests = len(lat) + s.Errors
	s.RPS = float64(s.Requests) / took.Seconds()
	s.LatencyMs = map[string]float64{"p50": Percentile(lat, .50), "p90": Percentile(lat, .90),
		"p99": Percentile(lat, .99), "p999": Percentile(lat, .999), "max": Percentile(lat, 1)}
	return s
}

// Percentile returns the p-quantile (0..1) of sorted latencies in milliseconds, by the nearest rank: the smallest
// latency that at least p of all are at or below. It is 0 for no latencies.
func Percentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p*float64(len(sorted)) - 1e-9)) // 1e-9: 0.99*100 is 99.00000000000001 in floating point
	rank = min(max(rank, 1), len(sorted))
	return float64(sorted[rank-1].Microseconds()) / 1000
}
