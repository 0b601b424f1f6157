package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/seckill/seckill/buyerauth"
	"github.com/seckill/seckill/schema/schematest"
)

// The browser tests drive Debian's chromium (scripts/chromium.sh installs it) through chromedp against a real
// `seckill serve -dev` over the real services. Screenshots go to $SECKILL_SCREENSHOTS when set (make screenshots
// sets docs/screenshots), else to a temporary directory.

const browserJWTSecret = "browser-test-buyer-secret-of-32-bytes+"

// browser is one headless chromium with a fresh profile; each tab is a buyer or an operator of its own (the pages
// keep their sign-in in sessionStorage, which is per tab).
type browser struct {
	t    *testing.T
	ctx  context.Context
	shot string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		schematest.Unavailable(t, "chromium (scripts/chromium.sh installs it)", err)
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(bin),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.Env("TZ=UTC", "LANG=zh_CN.UTF-8"),
	)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	shot := os.Getenv("SECKILL_SCREENSHOTS")
	if shot == "" {
		shot = t.TempDir()
	} else if err := os.MkdirAll(shot, 0o755); err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, ctx: ctx, shot: shot}
}

// tab opens a new tab on url.
func (b *browser) tab(url string, viewport ...int64) *tab {
	b.t.Helper()
	// Every uncaught JavaScript exception of the page fails the test.
	var mu sync.Mutex
	var thrown []string
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithListener(func(ev any) {
		if e, ok := ev.(*cdpruntime.EventExceptionThrown); ok {
			mu.Lock()
			d := e.ExceptionDetails
			desc := d.Text
			if d.Exception != nil {
				desc += " " + d.Exception.Description
			}
			thrown = append(thrown, fmt.Sprintf("%s:%d:%d %s", d.URL, d.LineNumber+1, d.ColumnNumber+1, desc))
			mu.Unlock()
		}
	}))
	b.t.Cleanup(func() {
		cancel()
		mu.Lock()
		defer mu.Unlock()
		for _, e := range thrown {
			b.t.Errorf("uncaught exception on %s: %s", url, e)
		}
	})
	// The first action on a context opens its tab and ties the tab's life to that context: open it without the
	// per-step timeout.
	if err := chromedp.Do(ctx); err != nil {
		b.t.Fatalf("open a tab: %v", err)
	}
	tb := &tab{t: b.t, ctx: ctx}
	if len(viewport) == 2 {
		tb.do(chromedp.EmulateViewport(viewport[0], viewport[1]))
	}
	tb.do(chromedp.Navigate(url))
	return tb
}

type tab struct {
	t   *testing.T
	ctx context.Context
}

func (tb *tab) do(actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.t.Fatalf("browser: %v", err)
	}
}

// eval returns the value of a JavaScript expression in the page.
func (tb *tab) eval(expr string) string {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		tb.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor polls a JavaScript condition until it holds, failing after timeout with what the page shows.
func (tb *tab) waitFor(what, cond string, timeout time.Duration) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, timeout+5*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingInterval(100*time.Millisecond),
		chromedp.WithPollingTimeout(timeout))); err != nil {
		tb.t.Fatalf("waiting for %s (%s): %v\npage says: %s", what, cond, err, tb.eval(`document.body.innerText`))
	}
}

// card returns a JavaScript expression for an element of a sale's card.
func card(product int64, sel string) string {
	return fmt.Sprintf(`document.querySelector(%q)`, fmt.Sprintf("#sale-%d %s", product, sel))
}

// devSignIn signs the tab in as user through the development sign-in.
func (tb *tab) devSignIn(user int64) {
	tb.t.Helper()
	tb.do(chromedp.SetValue("#dev-user", strconv.FormatInt(user, 10)), chromedp.Click("#dev-form button"))
	tb.waitFor("the sign-in", fmt.Sprintf(`document.querySelector("#who").textContent === "%d"`, user), 10*time.Second)
}

func (tb *tab) orderStatus(product int64, status string, timeout time.Duration) {
	tb.t.Helper()
	tb.waitFor(fmt.Sprintf("order status %s on sale %d", status, product),
		card(product, ".order-status")+fmt.Sprintf(`?.dataset.status === %q`, status), timeout)
}

func (tb *tab) buttonState(product int64, state string, timeout time.Duration) {
	tb.t.Helper()
	tb.waitFor(fmt.Sprintf("buy button %s on sale %d", state, product),
		card(product, ".buy")+fmt.Sprintf(`?.dataset.state === %q`, state), timeout)
}

func (tb *tab) message(product int64) string {
	return tb.eval(card(product, ".msg") + `.textContent`)
}

// screenshot saves the whole page as name.png and checks that it is a PNG of the expected width.
func (b *browser) screenshot(tb *tab, name string, width int) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 30*time.Second)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(buf))
	if err != nil || cfg.Width != width {
		b.t.Fatalf("screenshot %s: %v, width %d, want a PNG %d wide", name, err, cfg.Width, width)
	}
	if err := os.WriteFile(filepath.Join(b.shot, name+".png"), buf, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// listSale lists a product through the admin API; start and end may be nil (open).
func (a *app) listSale(name string, price string, stock int64, start, end *time.Time) int64 {
	a.t.Helper()
	id := schematest.ProductID(a.t, schematest.Redis(a.t))
	body := fmt.Sprintf(`{"id":%d,"name":%q,"price":%s,"stock":%d`, id, name, price, stock)
	if start != nil {
		body += fmt.Sprintf(`,"startTime":%q`, start.UTC().Format(time.RFC3339))
	}
	if end != nil {
		body += fmt.Sprintf(`,"endTime":%q`, end.UTC().Format(time.RFC3339))
	}
	if r := a.call("POST", "/admin/products", body+"}"); r.Status != http.StatusCreated {
		a.t.Fatalf("list %s: %d %s", name, r.Status, r.Message)
	}
	return id
}

// buyAs reserves one unit as a buyer with a token of the development minter, as the page does.
func (a *app) buyAs(user, product int64) int {
	a.t.Helper()
	tok, _ := buyerauth.Mint([]byte(browserJWTSecret), user, time.Hour, time.Now())
	req, _ := http.NewRequest("POST", a.base+"/seckill/kill",
		strings.NewReader(fmt.Sprintf(`{"userId":%d,"productId":%d,"quantity":1}`, user, product)))
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatalf("kill: %v", err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

func (a *app) redisStock(product int64) int64 {
	a.t.Helper()
	var p struct{ Stock int64 }
	r := a.call("GET", fmt.Sprintf("/seckill/products/%d", product), "")
	if err := json.Unmarshal(r.Data, &p); r.Status != http.StatusOK || err != nil {
		a.t.Fatalf("product %d: %d %v", product, r.Status, err)
	}
	return p.Stock
}

func devApp(t *testing.T) *app {
	return startApp(t, map[string]string{"SECKILL_DEV": "true", "SECKILL_BUYER_JWT_SECRET": browserJWTSecret,
		"SECKILL_BUYER_AUTH": "jwt"})
}

// TestBuyerPageInARealBrowser: a buyer waits for the countdown, buys, sees the order and pays; a second buyer
// cancels, and a third, who saw the sale sold out, then gets the freed unit; a sold-out sale shows sold out.
func TestBuyerPageInARealBrowser(t *testing.T) {
	a := devApp(t)
	b := newBrowser(t)
	now := time.Now()
	later := func(d time.Duration) *time.Time { v := now.Add(d); return &v }
	soldOut := a.listSale("华为 Mate 60 Pro", "5999", 0, nil, later(6*time.Hour))
	open := a.listSale("AirPods Pro 2", "1899", 100000, nil, nil)
	upcoming := a.listSale("小米 14 Ultra", "6499", 300, later(26*time.Hour), later(27*time.Hour))
	first := b.tab(a.base + "/")
	first.devSignIn(5001)
	// Listed while the page is open: it appears at the page's next poll of the list. The sale starts 4 to 5 s
	// from now (RFC 3339 in the listing has whole seconds).
	start := time.Now().Truncate(time.Second).Add(5 * time.Second)
	sale := a.listSale("iPhone 15 Pro", "6999", 2, &start, later(2*time.Hour))
	first.waitFor("the countdown", card(sale, ".clock-label")+`?.textContent.includes("距开始")`, 10*time.Second)
	if time.Now().After(start.Add(-500 * time.Millisecond)) {
		t.Fatal("the page took too long to show the countdown; the machine is too slow for this test")
	}
	if st := first.eval(card(sale, ".buy") + `.disabled + " " + ` + card(sale, ".buy") + `.dataset.state`); st != "true upcoming" {
		t.Fatalf("buy button before the start: %s, want disabled (upcoming)", st)
	}
	first.buttonState(sale, "ready", 10*time.Second)
	if time.Now().Before(start) {
		t.Fatalf("the buy button was enabled before the sale started (%s)", start)
	}
	// Keyboard: focus the button and press Enter.
	first.do(chromedp.Focus(fmt.Sprintf("#sale-%d .buy", sale)), chromedp.KeyEvent(kb.Enter))
	first.orderStatus(sale, "CREATED", 60*time.Second)
	first.do(chromedp.Click(fmt.Sprintf("#sale-%d .pay", sale)))
	first.orderStatus(sale, "PAID", 10*time.Second)
	if msg := first.message(sale); !strings.Contains(msg, "支付成功") {
		t.Fatalf("after paying the page says %q", msg)
	}

	second := b.tab(a.base + "/")
	second.devSignIn(5002)
	second.buttonState(sale, "ready", 10*time.Second)
	second.do(chromedp.Click(fmt.Sprintf("#sale-%d .buy", sale)))
	second.orderStatus(sale, "CREATED", 60*time.Second)

	third := b.tab(a.base + "/")
	third.devSignIn(5003)
	third.buttonState(sale, "sold-out", 10*time.Second)
	third.waitFor("已售罄 on the sold-out sale", card(soldOut, ".buy")+`.textContent.includes("已售罄") && `+card(soldOut, ".buy")+`.disabled`, 10*time.Second)

	second.do(chromedp.Click(fmt.Sprintf("#sale-%d .cancel", sale)))
	second.orderStatus(sale, "CANCELLED", 10*time.Second)
	second.buttonState(sale, "ready", 10*time.Second) // a buyer who cancelled may buy again

	third.buttonState(sale, "ready", 10*time.Second)
	third.do(chromedp.Click(fmt.Sprintf("#sale-%d .buy", sale)))
	third.orderStatus(sale, "CREATED", 60*time.Second)

	rep := a.drained(sale, 3, 60*time.Second)
	t.Logf("invariants after the browser sale: %s", rep)
	for status, want := range map[int]int64{1: 1, -1: 1, 0: 1} {
		if n := a.count(`SELECT COUNT(*) FROM tb_seckill_order WHERE product_id = ? AND status = ?`, sale, status); n != want {
			t.Fatalf("%d orders with status %d in MySQL, want %d", n, status, want)
		}
	}

	// No layout shift when the stock loses a digit: the countdown beside it stays where it was.
	first.waitFor("the open sale's stock", card(open, ".stock")+`.textContent === "100000"`, 10*time.Second)
	clockAt := card(open, ".clock") + `.getBoundingClientRect().left.toFixed(1)`
	before := first.eval(clockAt)
	if st := a.buyAs(5101, open); st != http.StatusOK {
		t.Fatalf("buy of the open sale: %d", st)
	}
	first.waitFor("the open sale's stock to fall", card(open, ".stock")+`.textContent === "99999"`, 10*time.Second)
	if after := first.eval(clockAt); after != before {
		t.Fatalf("the figure beside the stock moved from x=%s to x=%s when the stock went from 100000 to 99999", before, after)
	}
	first.waitFor("the upcoming sale's countdown", card(upcoming, ".clock")+`.textContent.startsWith("1天")`, 10*time.Second)
	b.screenshot(first, "buyer", 1280)

	phone := b.tab(a.base+"/", 390, 844)
	phone.devSignIn(5003)
	phone.orderStatus(sale, "CREATED", 10*time.Second)
	if w := phone.eval(`String(document.documentElement.scrollWidth)`); w != "390" {
		t.Fatalf("the page is %s px wide at a phone's 390 px: it scrolls sideways", w)
	}
	b.screenshot(phone, "buyer-phone", 390)
}

// TestBuyerPageSignInErrors: pressing buy without signing in, a token that is not a JWT and an expired token each
// show what is wrong, and nothing is reserved.
func TestBuyerPageSignInErrors(t *testing.T) {
	a := devApp(t)
	b := newBrowser(t)
	sale := a.listSale("iPhone 15 Pro", "6999", 5, nil, nil)
	tb := b.tab(a.base + "/")
	tb.buttonState(sale, "ready", 10*time.Second)
	tb.do(chromedp.Click(fmt.Sprintf("#sale-%d .buy", sale)))
	tb.waitFor("the sign-in prompt", card(sale, ".msg")+`.textContent.includes("请先登录")`, 5*time.Second)

	expired, _ := buyerauth.Mint([]byte(browserJWTSecret), 5001, time.Minute, time.Now().Add(-time.Hour))
	for token, want := range map[string]string{
		"not-a-token":                   "令牌格式无效",
		"eyJhbGciOiJIUzI1NiJ9.e30.sig":  "没有买家 ID",
		expired:                         "令牌已过期",
		"   ":                           "请粘贴买家令牌",
		"a.b.c.d":                       "令牌格式无效",
		"eyJhbGciOiJIUzI1NiJ9.!!!!.sig": "令牌格式无效",
	} {
		tb.do(chromedp.SetValue("#token", token), chromedp.Click("#token-form button"))
		tb.waitFor("the error for "+token, fmt.Sprintf(`document.querySelector("#account-msg").textContent.includes(%q)`, want), 5*time.Second)
		if tb.eval(`String(document.querySelector("#signed-in").hidden)`) != "true" {
			t.Fatalf("token %q signed the page in", token)
		}
	}
	tb.do(chromedp.SetValue("#dev-user", "0"), chromedp.Click("#dev-form button"))
	tb.waitFor("the error for user 0", `document.querySelector("#account-msg").textContent.includes("正整数")`, 5*time.Second)
	b.screenshot(tb, "buyer-sign-in-error", 1280)
	if n := a.redisStock(sale); n != 5 {
		t.Fatalf("stock %d after the failed sign-ins, want 5", n)
	}

	t.Run("a token the server rejects", func(t *testing.T) {
		// A well-formed token signed with another secret: the page accepts it, the server answers 401.
		forged, _ := buyerauth.Mint([]byte("another-secret-that-is-32-bytes-long"), 5009, time.Hour, time.Now())
		tb.do(chromedp.SetValue("#token", forged), chromedp.Click("#token-form button"))
		tb.waitFor("the sign-in", `document.querySelector("#who").textContent === "5009"`, 5*time.Second)
		tb.do(chromedp.Click(fmt.Sprintf("#sale-%d .buy", sale)))
		tb.waitFor("the 401 message", card(sale, ".msg")+`.textContent.includes("登录无效")`, 10*time.Second)
	})
}

// TestBuyerPageWords: every answer of the buy path has its own words on the page.
func TestBuyerPageWords(t *testing.T) {
	a := devApp(t)
	b := newBrowser(t)
	tb := b.tab(a.base + "/")
	cases := map[string]struct {
		op      string
		status  int
		message string
		want    string
	}{
		"sold out":        {"kill", 410, "product 1 is sold out", "已售罄"},
		"already bought":  {"kill", 409, "user 1 already holds order", "您已秒杀过"},
		"rate limited":    {"kill", 429, "too many requests", "请求过于频繁"},
		"not started":     {"kill", 403, "product 1: the sale has not started", "活动未开始"},
		"ended":           {"kill", 403, "product 1: the sale has ended", "活动已结束"},
		"unauthorized":    {"kill", 401, "", "登录无效"},
		"redis down":      {"kill", 503, "redis unavailable: nothing was reserved, try again", "未抢到"},
		"outcome unknown": {"kill", 503, "the outcome is unknown: GET /seckill/result tells it", "结果未知"},
		"server error":    {"kill", 500, "internal error", "服务器错误"},
		"network":         {"kill", 0, "", "网络错误"},
		"not payable":     {"pay", 409, "", "无法支付"},
		"not cancellable": {"cancel", 409, "", "无法取消"},
	}
	for name, c := range cases {
		got := tb.eval(fmt.Sprintf(`window.seckill.describe(%q, %d, %q)`, c.op, c.status, c.message))
		if !strings.Contains(got, c.want) || !strings.Contains(got, " · ") {
			t.Errorf("%s: the page says %q, want %q with English beside it", name, got, c.want)
		}
	}
}

// TestOperatorPageInARealBrowser: a wrong admin token shows the error; with the right one the operator lists a
// product through the form and watches its stock fall as buyers buy, in Redis and then in MySQL.
func TestOperatorPageInARealBrowser(t *testing.T) {
	a := devApp(t)
	b := newBrowser(t)
	tb := b.tab(a.base + "/admin/")
	tb.do(chromedp.SetValue("#admin-token", "wrong-token"), chromedp.Click("#token-form button"))
	tb.waitFor("the 401 message", `document.querySelector("#board-msg").textContent.includes("管理令牌无效")`, 10*time.Second)
	tb.do(chromedp.Click("#token-clear"), chromedp.SetValue("#admin-token", e2eToken), chromedp.Click("#token-form button"))

	id := schematest.ProductID(t, schematest.Redis(t))
	// Whole minutes: the browser normalizes a datetime-local value, dropping ":00" seconds, and SetValue fails
	// when the value read back differs (one run in sixty, when the clock stood on a whole minute).
	end := time.Now().Add(3 * time.Hour).UTC().Truncate(time.Minute).Format("2006-01-02T15:04")
	tb.do(
		chromedp.SetValue("#l-id", strconv.FormatInt(id, 10)),
		chromedp.SetValue("#l-name", "iPhone 15 Pro Max"),
		chromedp.SetValue("#l-price", "9999"),
		chromedp.SetValue("#l-stock", "10"),
		chromedp.SetValue("#l-end", end),
		chromedp.Click("#list-form button"),
	)
	tb.waitFor("the listing", `document.querySelector("#list-msg").textContent.includes("已上架")`, 10*time.Second)
	row := func(cls string) string {
		return fmt.Sprintf(`document.querySelector("#board-%d .%s")?.textContent`, id, cls)
	}
	tb.waitFor("the new sale on the board", row("redis")+` === "10"`, 10*time.Second)
	if got := a.redisStock(id); got != 10 {
		t.Fatalf("stock %d after listing through the page, want 10", got)
	}

	for u := int64(7001); u <= 7003; u++ {
		if st := a.buyAs(u, id); st != http.StatusOK {
			t.Fatalf("buyer %d: %d", u, st)
		}
	}
	tb.waitFor("the Redis stock to fall", row("redis")+` === "7"`, 10*time.Second)
	tb.waitFor("the MySQL stock and orders to follow", row("mysql")+` === "7" && `+row("awaiting")+` === "3" && `+
		row("verdict")+`.includes("一致")  && !`+row("verdict")+`.includes("不")`, 60*time.Second)
	if got := tb.eval(row("dlq") + ` + "/" + document.querySelector("#dlq-total").textContent`); got != "0/0" {
		t.Fatalf("DLQ on the board: %s, want 0/0", got)
	}
	b.screenshot(tb, "admin", 1280)
}
