package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/schema"
	"github.com/seckill/seckill/schema/schematest"
)

// replyDropper is a TCP proxy in front of the real Redis. Armed, it forwards the next script call (EVALSHA or
// EVAL) to Redis, waits for Redis's reply and then closes the client's connection instead of passing the reply
// on: the script ran, its caller got no answer. Refuse closes the listener and every connection, so that dials
// are refused.
type replyDropper struct {
	t       *testing.T
	ln      net.Listener
	target  string
	armed   atomic.Bool
	dropped atomic.Int32
	scripts atomic.Int32 // script calls forwarded to Redis

	mu    sync.Mutex
	conns []net.Conn
}

func newReplyDropper(t *testing.T, target string) *replyDropper {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &replyDropper{t: t, ln: ln, target: target}
	t.Cleanup(p.Refuse)
	go p.accept()
	return p
}

func (p *replyDropper) Addr() string { return p.ln.Addr().String() }

func (p *replyDropper) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		r, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, r)
		p.mu.Unlock()
		var doomed atomic.Bool
		go func() { // client -> redis
			defer r.Close()
			buf := make([]byte, 64<<10)
			for {
				n, err := c.Read(buf)
				if n > 0 {
					low := bytes.ToLower(buf[:n])
					if bytes.Contains(low, []byte("evalsha")) || bytes.Contains(low, []byte("\r\neval\r\n")) {
						p.scripts.Add(1)
						if p.armed.CompareAndSwap(true, false) {
							doomed.Store(true)
						}
					}
					if _, werr := r.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
		go func() { // redis -> client
			defer c.Close()
			buf := make([]byte, 64<<10)
			for {
				n, err := r.Read(buf)
				if n > 0 && doomed.Load() {
					p.dropped.Add(1)
					_ = r.Close()
					return
				}
				if n > 0 {
					if _, werr := c.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
	}
}

// Refuse stops the proxy: its port refuses connections and the open ones are closed.
func (p *replyDropper) Refuse() {
	_ = p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

// proxiedStack is a stack whose server reaches Redis through a replyDropper, with the client serve uses
// (schema.NewClient: no automatic retry); pipelined runs the scripts on its autopipeliner, as serve does
// (schema.ScriptPipeline), otherwise on the client itself.
func proxiedStack(t *testing.T, pipelined bool) (*stack, *replyDropper) {
	t.Helper()
	direct := schematest.RedisDB(t, schematest.RedisDBHTTPAPI)
	if err := schema.LoadScripts(context.Background(), direct); err != nil {
		t.Fatal(err)
	}
	p := newReplyDropper(t, schematest.RedisAddr())
	rdb := schema.NewClient(redis.UniversalOptions{Addrs: []string{p.Addr()}, DB: schematest.RedisDBHTTPAPI, DialTimeout: time.Second,
		ReadTimeout: 2 * time.Second})
	t.Cleanup(func() { _ = rdb.Close() })
	var scripts redis.Scripter = rdb
	if pipelined {
		ap, err := schema.ScriptPipeline(rdb)
		if err != nil {
			t.Fatal(err)
		}
		scripts = ap
	}
	return newStack(t, func(c *stackConfig) { c.deps.Redis, c.deps.Scripts = rdb, scripts }), p
}

// bothClients runs test with the scripts on the plain client and on its autopipeliner.
func bothClients(t *testing.T, test func(t *testing.T, pipelined bool)) {
	t.Run("plain", func(t *testing.T) { test(t, false) })
	t.Run("autopipelined", func(t *testing.T) { test(t, true) })
}

func (s *stack) resultOf(userID, productID int64) (status, orderNo string) {
	s.t.Helper()
	r := s.as(userID, "GET", fmt.Sprintf("/seckill/result?productId=%d", productID), "")
	if r.Status != http.StatusOK {
		s.t.Fatalf("result: %d %s", r.Status, r.Message)
	}
	var v struct {
		Status  string  `json:"status"`
		OrderNo *string `json:"orderNo"`
	}
	if err := json.Unmarshal(r.Data, &v); err != nil {
		s.t.Fatal(err)
	}
	if v.OrderNo != nil {
		orderNo = *v.OrderNo
	}
	return v.Status, orderNo
}

func wantUnknown(t *testing.T, r reply) {
	t.Helper()
	if r.Status != http.StatusServiceUnavailable || !strings.Contains(r.Message, "unknown") ||
		!strings.Contains(r.Message, "/seckill/result") || strings.Contains(r.Message, "nothing") {
		t.Fatalf("answer %d %q, want 503 saying the outcome is unknown and /seckill/result tells it", r.Status, r.Message)
	}
}

// TestKillWhoseReplyIsLostSaysTheOutcomeIsUnknown: the reserve script runs in Redis but its reply never comes
// back. The buyer is told the outcome is unknown (not "nothing was reserved"), the script is not run a second
// time, and /seckill/result shows the order the buyer does hold.
func TestKillWhoseReplyIsLostSaysTheOutcomeIsUnknown(t *testing.T) {
	bothClients(t, func(t *testing.T, pipelined bool) {
		s, p := proxiedStack(t, pipelined)
		id := s.list(10)
		before := p.scripts.Load()
		p.armed.Store(true)
		wantUnknown(t, s.kill(7, id))
		if p.dropped.Load() != 1 {
			t.Fatalf("the proxy dropped %d replies, want 1", p.dropped.Load())
		}
		if n := p.scripts.Load() - before; n != 1 {
			t.Fatalf("the reserve script was sent %d times, want once (no automatic retry)", n)
		}
		orderNo, err := s.rdb.HGet(context.Background(), schema.KeysFor(id).Buyers, "7").Result()
		if err != nil {
			t.Fatalf("the buyer holds no order in redis (%v): the script should have run", err)
		}
		if got := s.redisStock(id); got != 9 {
			t.Fatalf("stock %d, want 9: reserved once", got)
		}
		if st, no := s.resultOf(7, id); st != "PENDING" || no != orderNo {
			t.Fatalf("result %s %s, want PENDING %s", st, no, orderNo)
		}
	})
}

// TestPayWhoseReplyIsLostSaysTheOutcomeIsUnknown: the same for a payment: the order is paid in Redis, the buyer
// is told the outcome is unknown, and /seckill/result says PAID.
func TestPayWhoseReplyIsLostSaysTheOutcomeIsUnknown(t *testing.T) {
	bothClients(t, func(t *testing.T, pipelined bool) {
		s, p := proxiedStack(t, pipelined)
		id := s.list(10)
		r := s.kill(8, id)
		if r.Status != http.StatusOK {
			t.Fatalf("kill: %d %s", r.Status, r.Message)
		}
		var k struct{ OrderNo string }
		if err := json.Unmarshal(r.Data, &k); err != nil {
			t.Fatal(err)
		}
		p.armed.Store(true)
		wantUnknown(t, s.as(8, "POST", "/seckill/orders/"+k.OrderNo+"/pay", ""))
		rec, err := s.rdb.HGet(context.Background(), schema.KeysFor(id).Orders, k.OrderNo).Result()
		if err != nil || !strings.HasPrefix(rec, strconv.Itoa(schema.StatePaid)+"|") {
			t.Fatalf("order record %q (%v), want it paid: the script should have run", rec, err)
		}
		if st, _ := s.resultOf(8, id); st != "PAID" {
			t.Fatalf("result %s, want PAID", st)
		}
	})
}

// TestKillWithRedisUnreachableReservesNothing: when no connection to Redis can be had, the request certainly
// never reached it: 503 "nothing was reserved", and nothing was.
func TestKillWithRedisUnreachableReservesNothing(t *testing.T) {
	bothClients(t, func(t *testing.T, pipelined bool) {
		s, p := proxiedStack(t, pipelined)
		id := s.list(10)
		p.Refuse()
		r := s.kill(9, id)
		if r.Status != http.StatusServiceUnavailable || !strings.Contains(r.Message, "nothing was reserved") {
			t.Fatalf("answer %d %q, want 503 nothing was reserved", r.Status, r.Message)
		}
		if _, err := s.rdb.HGet(context.Background(), schema.KeysFor(id).Buyers, "9").Result(); !errors.Is(err, redis.Nil) {
			t.Fatalf("buyer mark lookup: %v, want none", err)
		}
		if got := s.redisStock(id); got != 10 {
			t.Fatalf("stock %d, want 10", got)
		}
		r = s.as(9, "POST", "/seckill/orders/SK"+strconv.FormatInt(id, 10)+"-00000001/cancel", "")
		if r.Status != http.StatusServiceUnavailable || !strings.Contains(r.Message, "nothing changed") {
			t.Fatalf("cancel answer %d %q, want 503 nothing changed", r.Status, r.Message)
		}
	})
}
