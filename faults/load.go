package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Operations a buyer performs.
const (
	OpKill   = "kill"
	OpPay    = "pay"
	OpCancel = "cancel"
	OpResult = "result"
)

// Answer is one request of a buyer and what came back, exactly as the buyer saw it.
type Answer struct {
	Op      string
	Status  int    // HTTP status; 0 when no answer came
	Message string // the envelope's message
	OrderNo string // the order the answer names (kill 200, result), or the order paid or cancelled
	Result  string // OpResult: NONE, PENDING, CREATED, PAID or CANCELLED
	Err     string // transport error when Status is 0
	Refused bool   // Status 0 because the connection was refused: the request never reached a server
	At      time.Time
}

// Reserved reports a kill answered 200: the buyer was told the order is theirs.
func (a Answer) Reserved() bool { return a.Op == OpKill && a.Status == http.StatusOK }

// Unknown reports an answer that leaves the outcome open: 503 saying the outcome is unknown, or no answer at all
// from a request that may have reached a server (reset, EOF, timeout).
func (a Answer) Unknown() bool {
	if a.Status == 0 {
		return !a.Refused
	}
	return a.Status == http.StatusServiceUnavailable && strings.Contains(strings.ToLower(a.Message), "unknown")
}

// Dropped reports a request that got no answer although it may have reached a server.
func (a Answer) Dropped() bool { return a.Status == 0 && !a.Refused }

// NothingDone reports an answer that told the buyer that nothing happened (for a kill: nothing was reserved):
// 4xx, or 503 without "unknown", or a refused connection.
func (a Answer) NothingDone() bool { return a.Status != http.StatusOK && !a.Unknown() }

// retryable reports an answer after which a buyer tries again: a 503 that reserved nothing, 429, or no answer.
func (a Answer) retryable() bool {
	return a.Status == 0 || a.Status == http.StatusTooManyRequests ||
		a.Status == http.StatusServiceUnavailable && !a.Unknown()
}

// Buyer is one user of the sale and every answer they got, in order.
type Buyer struct {
	UserID  int64
	Action  string // what the buyer does right after a 200: OpPay, OpCancel or "" (leave it to the payment timeout)
	Answers []Answer
}

// LoadConfig shapes the sale a Load drives.
type LoadConfig struct {
	Base string // the server's base URL (http://host:port)
	// Bases, when set, replaces Base with several servers (instances behind a load balancer): each buyer starts on
	// one of them, in turn, and each retry goes to the next, as a balancer sends it once a server stops answering.
	Bases       []string
	ProductID   int64   // the product on sale
	Buyers      int     // number of distinct buyers
	FirstUser   int64   // user id of the first buyer; the others follow
	Rate        float64 // buyers started per second (open loop); 0 = as fast as Conns allow
	Conns       int     // concurrent buyers (connections)
	CancelShare float64 // share of buyers who cancel right after their 200
	PayShare    float64 // share of buyers who pay right after their 200
	// RetryFor is how long a buyer keeps trying after answers that changed nothing (503 without "unknown", 429, no
	// answer): long enough to outlast a restart.
	RetryFor time.Duration
}

// Load is a flash sale driven through the HTTP API that records every answer. Buyers mostly buy once: a buyer
// tries /seckill/kill until an answer settles it (200, 4xx, or 503 "outcome unknown"), then, if so drawn, pays or
// cancels at once. Identity is sent both ways the trusted mode reads it: userId in the kill body and as the
// userId query parameter of every other call. Run may be called once; Started and Buyers are safe to call while
// it runs (Buyers only after it returned).
type Load struct {
	cfg     LoadConfig
	client  *http.Client
	buyers  []*Buyer
	started atomic.Int64
}

// NewLoad prepares a sale of cfg.Buyers buyers; the pay/cancel draw is seeded by the product id, so a scenario
// repeats the same sale.
func NewLoad(cfg LoadConfig) *Load {
	rng := rand.New(rand.NewPCG(uint64(cfg.ProductID), 7))
	l := &Load{cfg: cfg, client: &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{
		MaxIdleConns: cfg.Conns, MaxIdleConnsPerHost: cfg.Conns, IdleConnTimeout: 30 * time.Second}}}
	for i := range cfg.Buyers {
		b := &Buyer{UserID: cfg.FirstUser + int64(i)}
		switch u := rng.Float64(); {
		case u < cfg.CancelShare:
			b.Action = OpCancel
		case u < cfg.CancelShare+cfg.PayShare:
			b.Action = OpPay
		}
		l.buyers = append(l.buyers, b)
	}
	return l
}

// Started is the number of buyers who sent their first request.
func (l *Load) Started() int { return int(l.started.Load()) }

// Buyers returns every buyer with their answers; call it after Run returned.
func (l *Load) Buyers() []*Buyer { return l.buyers }

// Run drives the sale until every buyer is done or ctx ends.
func (l *Load) Run(ctx context.Context) {
	next := make(chan *Buyer)
	var wg sync.WaitGroup
	for range max(l.cfg.Conns, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range next {
				l.buy(ctx, b)
			}
		}()
	}
	start := time.Now()
	for i, b := range l.buyers {
		if l.cfg.Rate > 0 {
			if d := time.Until(start.Add(time.Duration(float64(i) / l.cfg.Rate * float64(time.Second)))); d > 0 {
				select {
				case <-ctx.Done():
				case <-time.After(d):
				}
			}
		}
		if ctx.Err() != nil {
			break
		}
		next <- b
		l.started.Add(1)
	}
	close(next)
	wg.Wait()
}

func (l *Load) buy(ctx context.Context, b *Buyer) {
	body := fmt.Sprintf(`{"userId":%d,"productId":%d,"quantity":1}`, b.UserID, l.cfg.ProductID)
	a := l.retrying(ctx, b, func(base string) Answer {
		return l.call(ctx, base, OpKill, http.MethodPost, "/seckill/kill", body)
	})
	if !a.Reserved() || b.Action == "" {
		return
	}
	path := fmt.Sprintf("/seckill/orders/%s/%s?userId=%d", a.OrderNo, b.Action, b.UserID)
	orderNo := a.OrderNo
	l.retrying(ctx, b, func(base string) Answer {
		a := l.call(ctx, base, b.Action, http.MethodPost, path, "")
		a.OrderNo = orderNo
		return a
	})
}

// base returns the server of a buyer's attempt-th try (see LoadConfig.Bases).
func (l *Load) base(b *Buyer, attempt int) string {
	if len(l.cfg.Bases) == 0 {
		return l.cfg.Base
	}
	return l.cfg.Bases[(int(b.UserID)+attempt)%len(l.cfg.Bases)]
}

// retrying records the answers of do until one settles the request or RetryFor passed, and returns the last.
func (l *Load) retrying(ctx context.Context, b *Buyer, do func(base string) Answer) Answer {
	deadline := time.Now().Add(l.cfg.RetryFor)
	for attempt := 0; ; attempt++ {
		a := do(l.base(b, attempt))
		b.Answers = append(b.Answers, a)
		if !a.retryable() || time.Now().After(deadline) || ctx.Err() != nil {
			return a
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Resolve asks /seckill/result for the buyer's order and records the answer (OpResult); with several servers
// (Bases) it asks each in turn until one answers.
func (l *Load) Resolve(ctx context.Context, b *Buyer) Answer {
	var a Answer
	for attempt := range max(len(l.cfg.Bases), 1) {
		a = l.call(ctx, l.base(b, attempt), OpResult, http.MethodGet,
			fmt.Sprintf("/seckill/result?userId=%d&productId=%d", b.UserID, l.cfg.ProductID), "")
		if a.Status != 0 {
			break
		}
	}
	b.Answers = append(b.Answers, a)
	return a
}

func (l *Load) call(ctx context.Context, base, op, method, path, body string) Answer {
	a := Answer{Op: op, At: time.Now()}
	req, err := http.NewRequestWithContext(ctx, method, base+path, strings.NewReader(body))
	if err != nil {
		a.Err = err.Error()
		return a
	}
	resp, err := l.client.Do(req)
	if err != nil {
		a.Err, a.Refused = err.Error(), errors.Is(err, syscall.ECONNREFUSED)
		return a
	}
	defer resp.Body.Close()
	var env struct {
		Message string `json:"message"`
		Data    struct {
			OrderNo *string `json:"orderNo"`
			Status  any     `json:"status"`
		} `json:"data"`
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		a.Err = "read body: " + err.Error()
		return a
	}
	a.Status = resp.StatusCode
	if err := json.Unmarshal(buf.Bytes(), &env); err != nil {
		a.Message = "undecodable body: " + buf.String()
		return a
	}
	a.Message = env.Message
	if env.Data.OrderNo != nil {
		a.OrderNo = *env.Data.OrderNo
	}
	if s, ok := env.Data.Status.(string); ok {
		a.Result = s
	}
	return a
}
