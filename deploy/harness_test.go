package deploy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/seckill/seckill/eventmsg"
	"github.com/seckill/seckill/events"
	"github.com/seckill/seckill/rocketmqpubsub"
	"github.com/seckill/seckill/schema/schematest"
)

func buildSeckill(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "seckill")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/seckill")
	cmd.Dir = filepath.Join(dir(), "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/seckill: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start runs `seckill <command>` until the test ends (SIGTERM, then its exit is awaited); its log is shown when
// the test failed.
func start(t *testing.T, bin string, env []string, command string) {
	t.Helper()
	var log bytes.Buffer
	cmd := exec.Command(bin, command)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			lines := strings.Split(strings.TrimSpace(log.String()), "\n")
			t.Logf("seckill %s, last lines:\n%s", command, strings.Join(lines[max(0, len(lines)-15):], "\n"))
		}
	})
}

// startRedis runs a Redis of the deployment's own (redis-server of `make services`) on a free port, so the test
// can take it away; stop ends it (also at the end of the test).
func startRedis(t *testing.T) (addr string, stop func()) {
	t.Helper()
	addr = freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command("redis-server", "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no",
		"--dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		schematest.Unavailable(t, "redis-server", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			_ = cmd.Process.Kill()
			<-done
		})
	}
	t.Cleanup(stop)
	waitFor(t, "redis-server on "+addr, 10*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			_ = c.Close()
		}
		return err == nil
	})
	return addr, stop
}

func publish(t *testing.T, namesrv, topic string, evts ...events.Event) {
	t.Helper()
	pub, err := rocketmqpubsub.NewPublisher(rocketmqpubsub.PublisherConfig{NameServers: []string{namesrv}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	for _, e := range evts {
		msg, err := eventmsg.ToMessage(e)
		if err != nil {
			t.Fatal(err)
		}
		if err := pub.Publish(topic, msg); err != nil {
			t.Fatal(err)
		}
	}
}

func poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(200 * time.Millisecond)
	}
	return true
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	if !poll(timeout, cond) {
		t.Fatalf("timed out after %s waiting for %s", timeout, what)
	}
}

func httpOK(u string) bool {
	resp, err := http.Get(u)
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

type client struct {
	t    *testing.T
	base string
}

func (c *client) do(method, path, body string) (int, json.RawMessage) {
	req, _ := http.NewRequest(method, c.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Errorf("%s %s: %v", method, path, err)
		return 0, nil
	}
	defer resp.Body.Close()
	var env struct{ Data json.RawMessage }
	_ = json.NewDecoder(resp.Body).Decode(&env)
	return resp.StatusCode, env.Data
}

func (c *client) status(method, path, body string) int {
	st, _ := c.do(method, path, body)
	return st
}

// purchase is an order and the buyer who reserved it.
type purchase struct {
	user    int
	orderNo string
}

// buyers has users 1..n buy one unit each, 8 at a time (the serve trusts the body's userId), and returns their
// purchases in user order.
func (c *client) buyers(product int64, n int) []purchase {
	got := make([]string, n+1)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for u := 1; u <= n; u++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			st, data := c.do("POST", "/seckill/kill", fmt.Sprintf(`{"userId":%d,"productId":%d,"quantity":1}`, u, product))
			var k struct{ OrderNo string }
			if st == http.StatusOK && json.Unmarshal(data, &k) == nil {
				got[u] = k.OrderNo
			}
		}()
	}
	wg.Wait()
	var out []purchase
	for u, o := range got {
		if o != "" {
			out = append(out, purchase{user: u, orderNo: o})
		}
	}
	return out
}

type prometheus struct {
	t    *testing.T
	base string
}

// startPrometheus starts a Prometheus through scripts/observability.sh, on a free port with its data in the
// test's directory, scraping the targets every 2s, and waits until both are up.
func startPrometheus(t *testing.T, targets ...string) *prometheus {
	t.Helper()
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	env := append(os.Environ(), "SECKILL_PROM_PORT="+port, "SECKILL_PROM_DIR="+filepath.Join(t.TempDir(), "prometheus"))
	script := filepath.Join(dir(), "..", "scripts", "observability.sh")
	cmd := exec.Command("bash", append([]string{script, "up"}, targets...)...)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("observability.sh up: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		down := exec.Command("bash", script, "down")
		down.Env = env
		if out, err := down.CombinedOutput(); err != nil {
			t.Errorf("observability.sh down: %v\n%s", err, out)
		}
	})
	p := &prometheus{t: t, base: "http://" + addr}
	p.waitFor("Prometheus scraping both targets", 30*time.Second, nil, `count(up{job="seckill"} == 1) == 2`)
	return p
}

func (p *prometheus) get(path string, params url.Values, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.base+path+"?"+params.Encode(), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var env struct {
		Status, Error string
		Data          json.RawMessage
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("%s: %s", resp.Status, body)
	}
	if env.Status != "success" {
		return fmt.Errorf("%s", env.Error)
	}
	return json.Unmarshal(env.Data, out)
}

type sample struct {
	Metric map[string]string `json:"metric"`
	Value  []any             `json:"value"`
}

// query evaluates expr now; an expression Prometheus refuses fails the test, naming what it came from.
func (p *prometheus) query(what, expr string) []sample {
	p.t.Helper()
	var r struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := p.get("/api/v1/query", url.Values{"query": {expr}}, &r); err != nil {
		p.t.Errorf("%s: %s: %v", what, expr, err)
		return nil
	}
	if r.ResultType == "scalar" {
		return []sample{{}}
	}
	var out []sample
	if err := json.Unmarshal(r.Result, &out); err != nil {
		p.t.Errorf("%s: %s: %v", what, expr, err)
	}
	return out
}

// value is the result of expr when it has one, nil when it is empty or an error.
func (p *prometheus) value(expr string) []sample {
	var r struct {
		Result []sample `json:"result"`
	}
	if err := p.get("/api/v1/query", url.Values{"query": {expr}}, &r); err != nil || len(r.Result) == 0 {
		return nil
	}
	return r.Result
}

// waitFor polls until every one of exprs has a result, and names those that have none when it gives up; do,
// unless nil, runs before each look.
func (p *prometheus) waitFor(what string, timeout time.Duration, do func(), exprs ...string) {
	p.t.Helper()
	var missing []string
	ok := poll(timeout, func() bool {
		if do != nil {
			do()
		}
		missing = missing[:0]
		for _, e := range exprs {
			if p.value(e) == nil {
				missing = append(missing, e)
			}
		}
		return len(missing) == 0
	})
	if !ok {
		p.t.Fatalf("timed out after %s waiting for %s: no result for %q", timeout, what, missing)
	}
}

// series returns the series a selector matched since the given time.
func (p *prometheus) series(selector string, since time.Time) []map[string]string {
	p.t.Helper()
	var out []map[string]string
	params := url.Values{"match[]": {selector}, "start": {fmt.Sprint(since.Unix())}, "end": {fmt.Sprint(time.Now().Unix())}}
	if err := p.get("/api/v1/series", params, &out); err != nil {
		p.t.Errorf("series %s: %v", selector, err)
	}
	return out
}

// alerts returns the state (pending or firing) of each active alert.
func (p *prometheus) alerts() map[string]string {
	var r struct {
		Alerts []struct {
			Labels map[string]string `json:"labels"`
			State  string            `json:"state"`
		} `json:"alerts"`
	}
	out := map[string]string{}
	if err := p.get("/api/v1/alerts", nil, &r); err != nil {
		return out
	}
	for _, a := range r.Alerts {
		if out[a.Labels["alertname"]] != "firing" {
			out[a.Labels["alertname"]] = a.State
		}
	}
	return out
}
