package dashboards_test

import (
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"testing"

	"github.com/seckill/seckill/deploy/dashboards"
)

const checkedIn = "../grafana/dashboards/seckill.json"

func TestCheckedInDashboardIsGenerated(t *testing.T) {
	want, err := dashboards.JSON()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(checkedIn)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from what deploy/dashboards generates: run `make dashboards` and commit the result", checkedIn)
	}
}

func TestEveryQueryReadsItsMetric(t *testing.T) {
	titles := map[string]int{}
	for _, r := range dashboards.Rows {
		for _, p := range r.Panels {
			titles[r.Title+"/"+p.Title]++
			if len(p.Queries) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
		}
	}
	for title, n := range titles {
		if n > 1 {
			t.Errorf("panel %q declared %d times in one row", title, n)
		}
	}
	for _, q := range dashboards.Queries() {
		if q.Metric == "" {
			t.Errorf("panel %q: query %s names no metric", q.Panel, q.Expr)
			continue
		}
		if !regexp.MustCompile(`\b` + regexp.QuoteMeta(q.Metric) + `(_bucket|_count|_sum)?\b`).MatchString(q.Expr) {
			t.Errorf("panel %q: query %s does not read %s", q.Panel, q.Expr, q.Metric)
		}
	}
}

// TestGrafanaIsNoDependency: the SDK is Apache-2.0; Grafana itself (AGPL) must never enter the module graph.
func TestGrafanaIsNoDependency(t *testing.T) {
	out, err := exec.Command("go", "mod", "graph").Output()
	if err != nil {
		t.Fatalf("go mod graph: %v", err)
	}
	if m := regexp.MustCompile(`(?m)\bgithub\.com/grafana/grafana@`).Find(out); m != nil {
		t.Fatalf("the module graph pulls %s", m)
	}
}
