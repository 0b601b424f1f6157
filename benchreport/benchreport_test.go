package benchreport_test

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/seckill/seckill/benchreport"
)

func stock(v int64) *int64 { return &v }

// TestPageIsSelfContained: the page embeds its samples and its script, loads nothing, and escapes what it shows.
func TestPageIsSelfContained(t *testing.T) {
	var b bytes.Buffer
	err := benchreport.Write(&b, benchreport.Run{Title: `sale <script>alert(1)</script>`, Started: time.Unix(0, 0).UTC(),
		Mode: "sale", ProductID: 7, Stock: 10, LatencyMs: map[string]float64{"p50": 1}, Codes: map[int]int{200: 10, 410: 5},
		InvariantsOK: false, Invariants: []string{"oversold: 11 reservations for stock 10"},
		Samples: []benchreport.Sample{{At: 0.25, Seconds: 0.25, Codes: map[int]int{200: 10}, P50: 1, Redis: stock(0), MySQL: stock(3)}}})
	if err != nil {
		t.Fatal(err)
	}
	page := b.String()
	if strings.Contains(page, "<script>alert(1)") {
		t.Error("the title is not escaped")
	}
	for _, want := range []string{`"redis":0`, `"mysql":3`, "invariants FAIL", "oversold: 11 reservations for stock 10", "function lineChart"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if m := regexp.MustCompile(`(?i)<(link|img|iframe)\b|\bsrc\s*=|url\(|@import`).FindString(page); m != "" {
		t.Errorf("the page loads something: %s", m)
	}
	for _, u := range regexp.MustCompile(`https?://[^\s"'<]+`).FindAllString(page, -1) {
		if u != "http://www.w3.org/2000/svg" {
			t.Errorf("the page names %s", u)
		}
	}
}

func TestPercentiles(t *testing.T) {
	var lat []time.Duration
	for i := 100; i >= 1; i-- {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	p50, p90, p99, max := benchreport.Percentiles(lat)
	if p50 != 50 || p90 != 90 || p99 != 99 || max != 100 {
		t.Fatalf("p50 %v p90 %v p99 %v max %v, want 50 90 99 100", p50, p90, p99, max)
	}
	if p50, _, _, _ := benchreport.Percentiles(nil); p50 != 0 {
		t.Fatalf("p50 of nothing = %v", p50)
	}
}
