package schema_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/schema"
	"github.com/seckill/seckill/schema/schematest"
)

// TestScriptCallErrorSaysWhetherTheScriptRan pins the classification: only errors that prove the command never
// ran say so; everything else is unknown.
func TestScriptCallErrorSaysWhetherTheScriptRan(t *testing.T) {
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	read := &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}
	cases := map[string]struct {
		err    error
		notRun bool
	}{
		"dial refused":               {dial, true},
		"pool timeout":               {redis.ErrPoolTimeout, true},
		"client closed":              {redis.ErrClosed, true},
		"loading":                    {redisError("LOADING Redis is loading the dataset in memory"), true},
		"busy":                       {redisError("BUSY Redis is busy running a script"), true},
		"out of memory":              {redisError("OOM command not allowed when used memory > 'maxmemory'."), true},
		"moved (cluster)":            {redisError("MOVED 3999 127.0.0.1:17002"), true},
		"ask (cluster)":              {redisError("ASK 3999 127.0.0.1:17002"), true},
		"cluster down":               {redisError("CLUSTERDOWN The cluster is down"), true},
		"try again (cluster)":        {redisError("TRYAGAIN Multiple keys request during rehashing of slot"), true},
		"connection reset":           {read, false},
		"eof":                        {io.EOF, false},
		"deadline":                   {context.DeadlineExceeded, false},
		"busy group (not a refusal)": {redisError("BUSYGROUP Consumer Group name already exists"), false},
		"script runtime error":       {redisError("ERR user_script:12: Script attempted to access nonexistent global"), false},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			err := schema.ScriptCallError(fmt.Errorf("reserve product 1: %w", c.err))
			if got := errors.Is(err, schema.ErrScriptNotRun); got != c.notRun {
				t.Fatalf("not run = %v, want %v (%v)", got, c.notRun, err)
			}
			if errors.Is(err, schema.ErrScriptOutcomeUnknown) == c.notRun {
				t.Fatalf("unknown = %v, want %v", !c.notRun, c.notRun)
			}
			if !errors.Is(err, c.err) {
				t.Fatal("the cause is not kept")
			}
		})
	}
}

type redisError string

func (e redisError) Error() string { return string(e) }
func (redisError) RedisError()     {}

// TestAutopipelinedReserveAnswersEachCallExactly: 400 buyers of a 150-unit sale at the same instant, their script
// calls batched by the autopipeliner serve uses. Each call still gets its own answer: exactly 150 reserve, each
// with an order of its own that Redis records for that very buyer and a distinct stock after; the other 250 are
// told sold out; one buyer's burst of 50 reserves once.
func TestAutopipelinedReserveAnswersEachCallExactly(t *testing.T) {
	ctx := context.Background()
	rdb := schema.NewClient(redis.UniversalOptions{Addrs: []string{schematest.RedisAddr()}, PoolSize: 8})
	t.Cleanup(func() { _ = rdb.Close() })
	ap, err := schema.ScriptPipeline(rdb)
	if err != nil {
		t.Fatal(err)
	}
	id := schematest.ProductID(t, rdb)
	if _, err := schema.LoadSale(ctx, rdb, schema.Sale{ProductID: id, Name: "x", Price: 100, Stock: 150, Listed: 150}); err != nil {
		t.Fatal(err)
	}
	const buyers, burst = 400, 50
	results := make([]schema.ReserveResult, buyers+burst)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			user := int64(i + 1)
			if i >= buyers {
				user = 1_000_000 // one buyer, many requests
			}
			r, err := schema.Reserve(ctx, ap, id, user, 1, uuid.NewString(), time.Now())
			if err != nil {
				t.Error(err)
			}
			results[i] = r
		}()
	}
	close(start)
	wg.Wait()
	orders, err := rdb.HGetAll(ctx, schema.KeysFor(id).Orders).Result()
	if err != nil {
		t.Fatal(err)
	}
	count := map[schema.Outcome]int{}
	stocks := map[int64]bool{}
	burstReserved := 0
	for i, r := range results {
		count[r.Outcome]++
		if r.Outcome != schema.Reserved {
			continue
		}
		user := int64(i + 1)
		if i >= buyers {
			user, burstReserved = 1_000_000, burstReserved+1
		}
		if want := fmt.Sprintf("0|%d|1", user); orders[r.OrderNo] != want {
			t.Fatalf("buyer %d was answered order %s, which redis records as %q, want %q", user, r.OrderNo, orders[r.OrderNo], want)
		}
		if stocks[r.Stock] {
			t.Fatalf("two reservations were answered stock %d", r.Stock)
		}
		stocks[r.Stock] = true
	}
	if count[schema.Reserved] != 150 || count[schema.SoldOut]+count[schema.AlreadyBought] != buyers+burst-150 ||
		len(orders) != 150 || burstReserved > 1 {
		t.Fatalf("outcomes %v, %d orders in redis, the burst reserved %d times; want 150 reserved, one order each, the burst at most once",
			count, len(orders), burstReserved)
	}
	if s, _ := rdb.Get(ctx, schema.KeysFor(id).Stock).Int64(); s != 0 {
		t.Fatalf("stock %d, want 0", s)
	}
}
