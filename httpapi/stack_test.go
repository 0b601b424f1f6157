package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/buyerauth"
	"github.com/seckill/seckill/eventmsg"
	"github.com/seckill/seckill/events"
	"github.com/seckill/seckill/httpapi"
	"github.com/seckill/seckill/outbox"
	"github.com/seckill/seckill/projections"
	"github.com/seckill/seckill/rocketmqpubsub"
	"github.com/seckill/seckill/sale"
	"github.com/seckill/seckill/schema"
	"github.com/seckill/seckill/schema/schematest"
)

const adminToken = "test-admin-token"

// buyerSecret signs the buyer tokens of every stack, so a token of one stack opens another.
var buyerSecret = []byte("httpapi-test-buyer-secret-32-bytes-long")

// token mints a buyer token valid for an hour.
func token(t testing.TB, userID int64) string {
	t.Helper()
	tok, err := buyerauth.Mint(buyerSecret, userID, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// trusted runs a stack in trusted mode: the request names the buyer.
func trusted(c *stackConfig) { c.api.TrustedBuyers, c.apiDeps.Buyers = true, nil }

// projectNow records every event in MySQL as the outbox delivers it, so orders are readable at once without
// consumers.
func projectNow(c *stackConfig) {
	c.deps.Outbox = projecting{store: c.deps.Store, next: c.deps.Outbox}
}

type projecting struct {
	store sale.Recorder
	next  sale.Deliverer
}

func (p projecting) Deliver(ctx context.Context, productID int64, streamID string, e events.Event) bool {
	if _, err := p.store.Record(ctx, e); err != nil {
		panic(fmt.Sprintf("project %T: %v", e, err))
	}
	return p.next.Deliver(ctx, productID, streamID, e)
}

// stack is a Server and its sale.Service over the real Redis, MySQL and RocketMQ, publishing to a test-private topic.
type stack struct {
	t       testing.TB
	handler http.Handler
	srv     *httpapi.Server
	rdb     *redis.Client
	db      schematest.Database
	namesrv string
	topic   string
	pub     message.Publisher
	outbox  *outbox.Outbox
	reg     *prometheus.Registry
}

// stackConfig is what a stackOption may change before the stack is built: the HTTP tier's and the sale's
// settings and collaborators.
type stackConfig struct {
	api     httpapi.Config
	apiDeps httpapi.Deps
	sale    sale.Config
	deps    sale.Deps
}

type stackOption func(*stackConfig)

func newStack(t testing.TB, opts ...stackOption) *stack {
	t.Helper()
	s := &stack{t: t, rdb: schematest.RedisDB(t, schematest.RedisDBHTTPAPI), db: schematest.MySQL(t), namesrv: schematest.Namesrv(t),
		topic: schematest.Topic("httpapi")}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := rocketmqpubsub.EnsureTopic(ctx, []string{s.namesrv}, schematest.Broker(), s.topic, 4); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	pub, err := rocketmqpubsub.NewPublisher(rocketmqpubsub.PublisherConfig{NameServers: []string{s.namesrv}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close() })
	s.pub = pub
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg := prometheus.NewRegistry()
	s.reg = reg
	s.outbox, err = outbox.New(outbox.Config{Topic: s.topic, MinAge: 200 * time.Millisecond, Interval: 100 * time.Millisecond,
		Backoff: 300 * time.Millisecond, PublishTimeout: 2 * time.Second}, s.rdb, pub, reg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.outbox.Close() })
	store, err := projections.NewStore(s.db.DB)
	if err != nil {
		t.Fatal(err)
	}
	buyers, err := buyerauth.NewVerifier(buyerauth.Config{Secret: buyerSecret})
	if err != nil {
		t.Fatal(err)
	}
	c := stackConfig{
		api:     httpapi.Config{AdminToken: adminToken},
		apiDeps: httpapi.Deps{Registerer: reg, Gatherer: reg, Logger: log, Buyers: buyers},
		deps:    sale.Deps{Redis: s.rdb, DB: s.db.DB, Store: store, Outbox: s.outbox, Registerer: reg},
	}
	for _, o := range opts {
		o(&c)
	}
	if c.apiDeps.Sale, err = sale.New(c.sale, c.deps); err != nil {
		t.Fatal(err)
	}
	if s.srv, err = httpapi.New(c.api, c.apiDeps); err != nil {
		t.Fatal(err)
	}
	s.handler = s.srv
	return s
}

// reply is a decoded envelope.
type reply struct {
	Status  int
	Header  http.Header     `json:"-"`
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

// do sends one request through the real router and checks the envelope. Safe for concurrent use.
func (s *stack) do(method, path, body string, header ...string) reply {
	s.t.Helper()
	req := httptest.NewRequest(method, path, bytes.NewBufferString(body))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	s.handler.ServeHTTP(rec, req)
	var r reply
	r.Status, r.Header = rec.Code, rec.Header()
	// Errorf, not Fatalf: do runs on many goroutines at once.
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		s.t.Errorf("%s %s: body is not the envelope: %q", method, path, rec.Body.String())
	}
	if r.Status != r.Code {
		s.t.Errorf("%s %s: status %d but code %d", method, path, r.Status, r.Code)
	}
	return r
}

func (s *stack) admin(method, path, body string) reply {
	return s.do(method, path, body, "Authorization", "Bearer "+adminToken)
}

// list lists a product with a fresh id and the given stock through the admin API.
func (s *stack) list(stock int64) int64 {
	s.t.Helper()
	id := schematest.ProductID(s.t, s.rdb)
	r := s.admin("POST", "/admin/products", fmt.Sprintf(`{"id":%d,"name":"iPhone 15 Pro","price":6999,"stock":%d}`, id, stock))
	if r.Status != http.StatusCreated {
		s.t.Fatalf("list product: %d %s", r.Status, r.Message)
	}
	return id
}

// as sends one request as the buyer: with the buyer's token, or in a trusted stack with nothing added.
func (s *stack) as(userID int64, method, path, body string) reply {
	return s.do(method, path, body, "Authorization", "Bearer "+token(s.t, userID))
}

// kill reserves one unit as the buyer, naming the buyer in the body too (the seed's request).
func (s *stack) kill(userID, productID int64) reply {
	return s.as(userID, "POST", "/seckill/kill", fmt.Sprintf(`{"userId":%d,"productId":%d,"quantity":1}`, userID, productID))
}

func (s *stack) redisStock(productID int64) int64 {
	s.t.Helper()
	n, err := s.rdb.Get(context.Background(), schema.KeysFor(productID).Stock).Int64()
	if err != nil {
		s.t.Fatal(err)
	}
	return n
}

// received consumes the stack's topic with a fresh consumer group and returns how often each event id arrived.
// Callers wait until the outbox is empty, so every event (and any duplicate publish) is already stored. To know
// that all of them were read, it publishes a marker to each of the topic's queues: the subscriber hands out a
// queue's messages in queue order, so once every queue's marker came back, everything stored before it did too.
// It returns early what arrived if the timeout passes first; want is only reported then.
func (s *stack) received(want int, timeout time.Duration) map[string]int {
	s.t.Helper()
	const queues = 4 // newStack creates the topic with 4 queues
	const markerKey = "received_marker"
	sub, err := rocketmqpubsub.NewSubscriber(rocketmqpubsub.SubscriberConfig{NameServers: []string{s.namesrv},
		ConsumerGroup: "test-" + schematest.RandomSuffix()}, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	defer sub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	msgs, err := sub.Subscribe(ctx, s.topic)
	if err != nil {
		s.t.Fatal(err)
	}
	// The producer picks queues round-robin, so consecutive markers land on different queues; one more is sent
	// whenever all sent markers came back and a queue still has none.
	sent, back := 0, 0
	marked := map[int]bool{}
	mark := func() {
		m := message.NewMessage(fmt.Sprintf("marker-%d", sent), nil)
		m.Metadata.Set(markerKey, "1")
		if err := s.pub.Publish(s.topic, m); err != nil {
			s.t.Fatalf("publish marker: %v", err)
		}
		sent++
	}
	for range queues {
		mark()
	}
	got := map[string]int{}
	for len(marked) < queues {
		select {
		case m, ok := <-msgs:
			if !ok {
				s.t.Logf("received %d of %d events before the %s timeout", len(got), want, timeout)
				return got
			}
			m.Ack()
			if m.Metadata.Get(markerKey) != "" {
				q, _ := rocketmqpubsub.QueueIDFromCtx(m.Context())
				marked[q] = true
				if back++; back == sent && len(marked) < queues {
					mark()
				}
				continue
			}
			if _, err := eventmsg.FromMessage(m); err != nil {
				s.t.Errorf("undecodable message %s: %v", m.UUID, err)
			}
			got[m.UUID]++
		case <-ctx.Done():
			s.t.Logf("received %d of %d events before the %s timeout", len(got), want, timeout)
			return got
		}
	}
	return got
}

// fire runs n requests at once (released together) and counts the answers by status.
func fire(n int, req func(i int) reply) map[int]int {
	start := make(chan struct{})
	var mu sync.Mutex
	var wg sync.WaitGroup
	codes := map[int]int{}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r := req(i)
			mu.Lock()
			codes[r.Status]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	return codes
}

// counter reads a counter of the stack's registry (the sum over its label sets); 0 when it has no sample yet.
func (s *stack) counter(name string) float64 {
	s.t.Helper()
	families, err := s.reg.Gather()
	if err != nil {
		s.t.Fatalf("gather metrics: %v", err)
	}
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}
