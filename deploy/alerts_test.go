// Package deploy_test checks what deploy/ ships against the running code: the alert rules against their promtool
// unit tests, and (prometheus_test.go) every dashboard query and alert expression against a real Prometheus
// scraping a real sale.
package deploy_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"go.yaml.in/yaml/v3"
)

type alertRules struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

type ruleTests struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		Name  string `yaml:"name"`
		Cases []struct {
			Alert     string `yaml:"alertname"`
			ExpAlerts []any  `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

// dir is deploy/, wherever the test runs from.
func dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}

func readYAML(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir(), filepath.FromSlash(name)))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func loadAlerts(t *testing.T) alertRules {
	t.Helper()
	var r alertRules
	readYAML(t, "prometheus/alerts.yml", &r)
	if len(r.Groups) == 0 {
		t.Fatal("alerts.yml: no groups")
	}
	return r
}

// TestEveryAlertHasAUnitTest: alerts_test.yml has, for every alert of alerts.yml, a case where it fires and a
// case of the healthy sale where it stays silent, and every alert says how bad it is and what it means.
func TestEveryAlertHasAUnitTest(t *testing.T) {
	var tests ruleTests
	readYAML(t, "prometheus/alerts_test.yml", &tests)
	fires, healthy := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, c := range tc.Cases {
			if len(c.ExpAlerts) > 0 {
				fires[c.Alert] = true
			} else if tc.Name == "healthy sale" {
				healthy[c.Alert] = true
			}
		}
	}
	seen := map[string]bool{}
	for _, g := range loadAlerts(t).Groups {
		for _, r := range g.Rules {
			if seen[r.Alert] {
				t.Errorf("alert %s defined twice", r.Alert)
			}
			seen[r.Alert] = true
			if r.Labels["severity"] != "critical" && r.Labels["severity"] != "warning" {
				t.Errorf("alert %s: severity %q, want critical or warning", r.Alert, r.Labels["severity"])
			}
			if r.Annotations["summary"] == "" {
				t.Errorf("alert %s has no summary", r.Alert)
			}
			if !fires[r.Alert] {
				t.Errorf("alerts_test.yml: no case where %s fires", r.Alert)
			}
			if !healthy[r.Alert] {
				t.Errorf("alerts_test.yml: the healthy sale does not check that %s stays silent", r.Alert)
			}
		}
	}
	for a := range fires {
		if !seen[a] {
			t.Errorf("alerts_test.yml tests %s, which alerts.yml does not define", a)
		}
	}
}

// TestAlertRulesUnderPromtool runs `promtool check rules` and `promtool test rules` (scripts/observability.sh
// installs promtool with Debian's prometheus package).
func TestAlertRulesUnderPromtool(t *testing.T) {
	promtool := tool(t, "promtool")
	for _, args := range [][]string{{"check", "rules", "alerts.yml"}, {"test", "rules", "alerts_test.yml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = filepath.Join(dir(), "prometheus")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %v: %v\n%s", args, err, out)
		}
	}
}

// tool finds a program scripts/observability.sh installs; without it the test skips, or fails under
// SECKILL_REQUIRE_SERVICES=1.
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("SECKILL_REQUIRE_SERVICES") == "1" {
			t.Fatalf("%s is required (SECKILL_REQUIRE_SERVICES=1): run scripts/observability.sh install: %v", name, err)
		}
		t.Skipf("%s missing (scripts/observability.sh install): %v", name, err)
	}
	return p
}
