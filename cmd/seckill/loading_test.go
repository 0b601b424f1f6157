package main

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/schema"
	"github.com/seckill/seckill/schema/schematest"
)

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// privateRedis starts a redis-server of its own (never the shared one) on port with its data in dir and returns
// its address.
func privateRedis(t *testing.T, dir string, port int, extra ...string) (string, *exec.Cmd) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		schematest.Unavailable(t, "redis-server", err)
	}
	args := append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "",
		"--appendonly", "no"}, extra...)
	cmd := exec.Command(bin, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return "127.0.0.1:" + strconv.Itoa(port), cmd
}

// TestServeWaitsWhileRedisLoadsItsDataset: a Redis restarted on a big dataset answers LOADING for a while; the
// binary's start (openRedis) waits for it instead of giving up, and finds the data loaded.
func TestServeWaitsWhileRedisLoadsItsDataset(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	port := freePort(t)
	addr, first := privateRedis(t, dir, port)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	waitPong := func(what string, ok func(error) bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for err := rdb.Ping(ctx).Err(); !ok(err); err = rdb.Ping(ctx).Err() {
			if time.Now().After(deadline) {
				t.Fatalf("no %s within 30s: %v", what, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitPong("PONG", func(err error) bool { return err == nil })
	if err := rdb.Eval(ctx, `for i = 1, 3000 do redis.call('SET', 'k' .. i, i) end`, nil).Err(); err != nil && !errors.Is(err, redis.Nil) {
		t.Fatal(err)
	}
	if err := rdb.Save(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	_ = rdb.Shutdown(ctx).Err() // the connection closes as the server exits
	_ = first.Wait()
	// Restart on the saved dataset, loading it slowly (1ms a key) and answering LOADING meanwhile.
	privateRedis(t, dir, port, "--key-load-delay", "1000",
		"--loading-process-events-interval-bytes", "1024")
	waitPong("LOADING", schema.IsLoading)

	st, err := openRedis(ctx, Config{RedisAddrs: []string{addr}})
	if err != nil {
		t.Fatalf("start while redis loads: %v", err)
	}
	defer st.Close()
	if n, err := st.DBSize(ctx).Result(); err != nil || n != 3000 {
		t.Fatalf("after the wait redis holds %d keys (%v), want the 3000 loaded", n, err)
	}
}
