package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/seckill/seckill/loadgen"
)

// TestBuyerIdentityThroughServe: the production wiring of `seckill serve`. In jwt mode (the default) a buy without
// a token is 401 with a Bearer challenge and reserves nothing, a token of `seckill token`'s kind buys, and another
// buyer can neither read, pay nor cancel the order. In trusted mode the request names the buyer, and an order
// still answers only to its own.
func TestBuyerIdentityThroughServe(t *testing.T) {
	t.Run("jwt", func(t *testing.T) {
		a := startApp(t, nil)
		id := a.list(3)
		req, _ := http.NewRequest("POST", a.base+"/seckill/kill", strings.NewReader(fmt.Sprintf(`{"userId":1,"productId":%d,"quantity":1}`, id)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("kill without a token: %d %q, want 401 with a Bearer challenge", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
		if r := a.as(1, "POST", "/seckill/kill", fmt.Sprintf(`{"userId":2,"productId":%d,"quantity":1}`, id)); r.Status != http.StatusForbidden {
			t.Fatalf("body naming another buyer: %d, want 403", r.Status)
		}
		no, st := a.buy(1, id)
		if st != http.StatusOK {
			t.Fatalf("buy with a token: %d", st)
		}
		a.drained(id, 1, 30*time.Second)
		for _, op := range []struct{ method, suffix string }{{"GET", ""}, {"POST", "/pay"}, {"POST", "/cancel"}} {
			if r := a.as(2, op.method, "/seckill/orders/"+no+op.suffix, ""); r.Status != http.StatusNotFound {
				t.Errorf("%s %s by another buyer: %d, want 404", op.method, op.suffix, r.Status)
			}
		}
		if r := a.as(1, "GET", "/seckill/orders/"+no, ""); r.Status != http.StatusOK {
			t.Fatalf("the buyer reads the order: %d %s", r.Status, r.Message)
		}
		if got := a.pay(no); got != http.StatusOK {
			t.Fatalf("the buyer pays: %d", got)
		}
	})
	t.Run("trusted", func(t *testing.T) {
		a := startApp(t, map[string]string{"SECKILL_BUYER_AUTH": "trusted", "SECKILL_BUYER_JWT_SECRET": ""})
		id := a.list(3)
		r := a.send("POST", "/seckill/kill", fmt.Sprintf(`{"userId":7,"productId":%d,"quantity":1}`, id), "")
		if r.Status != http.StatusOK {
			t.Fatalf("trusted kill naming buyer 7: %d %s", r.Status, r.Message)
		}
		var k struct{ OrderNo string }
		_ = json.Unmarshal(r.Data, &k)
		if r := a.send("POST", "/seckill/orders/"+k.OrderNo+"/cancel?userId=8", "", ""); r.Status != http.StatusNotFound {
			t.Fatalf("buyer 8 cancels buyer 7's order: %d, want 404", r.Status)
		}
		if r := a.send("GET", fmt.Sprintf("/seckill/result?userId=7&productId=%d", id), "", ""); !strings.Contains(string(r.Data), k.OrderNo) {
			t.Fatalf("result of buyer 7: %d %s", r.Status, r.Data)
		}
		if r := a.send("POST", "/seckill/orders/"+k.OrderNo+"/cancel?userId=7", "", ""); r.Status != http.StatusOK {
			t.Fatalf("buyer 7 cancels: %d %s", r.Status, r.Message)
		}
	})
}

// TestBenchMintsItsBuyersTokens: `seckill bench` against a jwt-mode server signs one token per buyer with
// SECKILL_BUYER_JWT_SECRET, so no answer is 401 and the sale passes its invariant check; with a wrong secret every
// buy is 401 and nothing is sold.
func TestBenchMintsItsBuyersTokens(t *testing.T) {
	a := startApp(t, nil)
	bench := func(env map[string]string) loadgen.Report {
		t.Helper()
		var out bytes.Buffer
		args := []string{"bench", "-json", "-url", a.base, "-buyers", "60", "-stock", "20", "-c", "4", "-drain-timeout", "30s"}
		if err := run(context.Background(), args, envOf(env), &out, io.Discard); err != nil && !strings.Contains(err.Error(), "invariant") {
			t.Fatalf("bench: %v", err)
		}
		var rep loadgen.Report
		if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
			t.Fatalf("bench report %q: %v", out.String(), err)
		}
		return rep
	}
	rep := bench(a.env)
	if rep.Codes[http.StatusUnauthorized] != 0 || rep.Codes[http.StatusOK] != 20 || !rep.InvariantsOK {
		t.Fatalf("bench with the server's secret: answers %v, invariants %v %v", rep.Codes, rep.InvariantsOK, rep.Invariants)
	}
	wrong := maps.Clone(a.env)
	wrong["SECKILL_BUYER_JWT_SECRET"] = "not-the-servers-secret-but-32-bytes"
	rep = bench(wrong)
	if rep.Codes[http.StatusUnauthorized] != rep.Requests || rep.Codes[http.StatusOK] != 0 {
		t.Fatalf("bench with another secret: answers %v, want every one 401", rep.Codes)
	}
}
