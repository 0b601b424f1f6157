// Package benchreport renders a `seckill bench` run as one self-contained HTML page: the numbers of the run, the
// invariant verdict and four charts (throughput, answers by code, latency percentiles, stock in Redis vs MySQL),
// drawn as inline SVG by an inline script from the samples embedded in the page. The page loads nothing: it opens
// from a file, offline.
package benchreport

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"os"
	"sort"
	"time"
)

// Run is what the page shows.
type Run struct {
	Title        string
	Started      time.Time
	Mode         string // sale or bare
	URL          string
	ProductID    int64
	Stock        int64
	Requests     int
	Conns        int
	Rate         float64 // open-loop arrival rate, 0 in closed loop
	Seconds      float64
	RPS          float64
	LatencyMs    map[string]float64 // p50, p90, p99, p999, max
	Codes        map[int]int
	Errors       int     // transport errors
	SoldOutAfter float64 // seconds from the first request to the first 410, 0 if never
	DrainedAfter float64 // seconds from the first request until MySQL held every order, 0 if not waited for
	InvariantsOK bool
	Invariants   []string // what failed
	Samples      []Sample
}

// Sample is one tick of the run: the answers received during it and, in a sale, the stock at its end.
type Sample struct {
	At        float64     `json:"at"`        // seconds since the first request, at the end of the tick
	Seconds   float64     `json:"seconds"`   // length of the tick
	Codes     map[int]int `json:"codes"`     // answers by HTTP status (0: transport error)
	P50       float64     `json:"p50"`       // latency of the tick's answers, ms
	P90       float64     `json:"p90"`       //
	P99       float64     `json:"p99"`       //
	Max       float64     `json:"max"`       //
	Redis     *int64      `json:"redis"`     // stock in Redis, nil when not sampled
	MySQL     *int64      `json:"mysql"`     // stock in MySQL, nil when not sampled
	OrdersSQL *int64      `json:"ordersSql"` // orders MySQL holds, nil when not sampled
}

// Percentiles returns p50, p90, p99 and max of latencies in ms; it sorts them.
func Percentiles(latencies []time.Duration) (p50, p90, p99, max float64) {
	if len(latencies) == 0 {
		return 0, 0, 0, 0
	}
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	at := func(p float64) float64 {
		return float64(latencies[int(p*float64(len(latencies)-1))].Microseconds()) / 1000
	}
	return at(.5), at(.9), at(.99), at(1)
}

//go:embed report.html
var page string

var tmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"codes": func(c map[int]int) []codeCount {
		out := make([]codeCount, 0, len(c))
		for k, v := range c {
			out = append(out, codeCount{k, v})
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Code < out[j].Code })
		return out
	},
	"f": func(format string, v any) string { return fmt.Sprintf(format, v) },
}).Parse(page))

type codeCount struct{ Code, N int }

// Write renders r as HTML.
func Write(w io.Writer, r Run) error {
	if r.Samples == nil {
		r.Samples = []Sample{}
	}
	if err := tmpl.Execute(w, r); err != nil {
		return fmt.Errorf("render bench report: %w", err)
	}
	return nil
}

// WriteFile renders r into the named file.
func WriteFile(name string, r Run) error {
	f, err := os.Create(name)
	if err != nil {
		return fmt.Errorf("bench report: %w", err)
	}
	if err := Write(f, r); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
