package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// renderedChart is what the page's script drew in one chart.
type renderedChart struct {
	ID     string `json:"id"`
	Series []struct {
		Name   string  `json:"name"`
		Points int     `json:"points"`
		Length float64 `json:"length"`
	} `json:"series"`
}

// TestBenchReportRendersInChromium: `seckill bench -report` of a real sale writes one page that headless Chromium
// opens from the file with no network: every chart is drawn (SVG paths with points and a length), the stock chart
// has Redis and MySQL, the answers chart 200 and 410, the verdict is PASS, no script fails and the page requests
// nothing beyond its own file. With SECKILL_REPORT_SCREENSHOT=FILE.png it saves a screenshot of the page there.
func TestBenchReportRendersInChromium(t *testing.T) {
	chromium := chromiumPath(t)
	a := startApp(t, nil)
	page := filepath.Join(t.TempDir(), "report.html")
	out, err := a.seckill("bench", "-url", a.base, "-token", e2eToken, "-stock", "1000", "-buyers", "4000", "-c", "16",
		"-drain-timeout", "40s", "-report", page)
	if err != nil || !strings.Contains(out, "invariants      PASS") {
		t.Fatalf("bench: %v\n%s", err, out)
	}
	html, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	// Self-contained: no external script, style sheet, image or frame; the only URL is the SVG namespace.
	if m := regexp.MustCompile(`(?i)<(link|img|iframe)\b|\bsrc\s*=|url\(|@import`).Find(html); m != nil {
		t.Errorf("the page loads something: %s", m)
	}
	for _, u := range regexp.MustCompile(`https?://[^\s"'<]+`).FindAllString(string(html), -1) {
		if u != "http://www.w3.org/2000/svg" && !strings.HasPrefix(u, a.base) {
			t.Errorf("the page names %s", u)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromium), chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.NoFirstRun, chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1060, 900))
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()

	var mu sync.Mutex
	var problems []string
	if err := chromedp.Listen(browser, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := e.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			problems = append(problems, fmt.Sprintf("script error at line %d: %s", d.LineNumber+1, msg))
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError {
				problems = append(problems, "console error")
			}
		case *network.EventRequestWillBeSent:
			if !strings.HasPrefix(e.Request.URL, "file://") {
				problems = append(problems, "request to "+e.Request.URL)
			}
		}
	}); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	if err := chromedp.Do(browser, chromedp.Navigate("file://"+page), chromedp.WaitVisible(chromedp.CSS(`body[data-rendered="true"]`))); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	charts, err := chromedp.Run(browser, chromedp.Evaluate[[]renderedChart](`[...document.querySelectorAll(".chart")].map(c => ({id: c.id,
		series: [...c.querySelectorAll("path.series")].map(p => ({name: p.dataset.name, points: +p.dataset.points, length: p.getTotalLength()}))}))`))
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	verdict, err := chromedp.Run(browser, chromedp.Text(chromedp.ID("verdict")))
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	png, err := chromedp.Run(browser, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	mu.Lock()
	for _, p := range problems {
		t.Error(p)
	}
	mu.Unlock()
	if verdict != "invariants PASS" {
		t.Errorf("verdict %q", verdict)
	}
	want := map[string][]string{"throughput": {"answers/s"}, "codes": {"200", "410"}, "latency": {"p50", "p90", "p99", "max"},
		"stock": {"Redis stock", "MySQL stock"}}
	for _, c := range charts {
		names := map[string]bool{}
		for _, s := range c.Series {
			if s.Points < 2 || s.Length <= 0 {
				t.Errorf("chart %s: series %s drawn with %d points, length %.0f", c.ID, s.Name, s.Points, s.Length)
			}
			names[s.Name] = true
		}
		for _, n := range want[c.ID] {
			if !names[n] {
				t.Errorf("chart %s has no series %s (has %v)", c.ID, n, names)
			}
		}
		delete(want, c.ID)
	}
	if len(want) > 0 {
		t.Errorf("charts missing from the page: %v", want)
	}
	if dst := os.Getenv("SECKILL_REPORT_SCREENSHOT"); dst != "" {
		if err := os.WriteFile(dst, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// chromiumPath finds Debian's chromium (scripts/observability.sh install-chromium); without it the test skips, or
// fails under SECKILL_REQUIRE_SERVICES=1.
func chromiumPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("SECKILL_REQUIRE_SERVICES") == "1" {
			t.Fatalf("chromium is required (SECKILL_REQUIRE_SERVICES=1): run scripts/observability.sh install-chromium: %v", err)
		}
		t.Skipf("chromium missing (scripts/observability.sh install-chromium): %v", err)
	}
	return p
}
