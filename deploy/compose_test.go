package deploy_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/seckill/seckill/deploy/deploytest"
)

// The tests of this file keep compose.yaml and the Dockerfile in step with `make services` and with deploy/
// without a Docker engine: they parse the files and compare them with scripts/services.sh, tools/rocketmq/, the
// Makefile and go.mod. The seckill service's environment is checked against the real Config by
// cmd/seckill/compose_test.go; the dashboard and the alert rules themselves by prometheus_test.go and
// alerts_test.go.

// servicesPortVar names the port variable of scripts/services.sh for each infrastructure service.
var servicesPortVar = map[string]string{"redis": "REDIS_PORT", "mysql": "MYSQL_PORT", "rmqnamesrv": "NS_PORT", "rmqbroker": "BROKER_PORT"}

// readFile reads a file of the repository; name is relative to its root.
func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(deploytest.Root(), filepath.FromSlash(name)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// readRootYAML parses a YAML file of the repository; name is relative to its root.
func readRootYAML(t *testing.T, name string, v any) {
	t.Helper()
	if err := yaml.Unmarshal([]byte(readFile(t, name)), v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func TestComposeServicesAndPorts(t *testing.T) {
	c := deploytest.LoadCompose(t)
	script := readFile(t, "scripts/services.sh")
	for _, name := range []string{"redis", "mysql", "rmqnamesrv", "rmqbroker", "seckill", "prometheus", "grafana"} {
		c.Service(t, name)
	}
	for svc, v := range servicesPortVar {
		m := regexp.MustCompile(`(?m)^` + v + `=(?:\$\{SECKILL_[A-Z]+_PORT:-(\d+)\}|(\d+))$`).FindStringSubmatch(script)
		if m == nil {
			t.Fatalf("scripts/services.sh sets no %s", v)
		}
		if port := m[1] + m[2]; port != strconv.Itoa(deploytest.ContractPorts[svc]) {
			t.Errorf("scripts/services.sh %s=%s, want %d", v, port, deploytest.ContractPorts[svc])
		}
	}

	want := map[string]int{"prometheus": 9090, "grafana": 3000}
	for k, v := range deploytest.ContractPorts {
		want[k] = v
	}
	hostPorts := map[int]string{}
	for name, s := range c.Services {
		for container, host := range s.Published(t) {
			if other, dup := hostPorts[host]; dup {
				t.Errorf("host port %d published by both %s and %s", host, other, name)
			}
			hostPorts[host] = name
			if host != container {
				t.Errorf("%s publishes container port %d on host port %d; make services uses the same port on both", name, container, host)
			}
		}
		if p, ok := want[name]; ok {
			if host, ok := s.Published(t)[p]; !ok || host != p {
				t.Errorf("%s: container port %d is not published as %d (ports %v)", name, p, p, s.Ports)
			}
		}
		for src := range s.Binds() {
			if _, err := os.Stat(filepath.Join(deploytest.Root(), filepath.FromSlash(src))); err != nil {
				t.Errorf("%s mounts %s: %v", name, src, err)
			}
		}
	}

	broker := c.Service(t, "rmqbroker").Published(t)
	for _, p := range []int{deploytest.ContractPorts["rmqbroker"] - 2, deploytest.ContractPorts["rmqbroker"] + 1} {
		if _, ok := broker[p]; !ok {
			t.Errorf("rmqbroker: port %d (fast channel listenPort-2, HA listenPort+1) is not published", p)
		}
	}

	rmqVersion := regexp.MustCompile(`<rocketmq.version>([^<]+)</rocketmq.version>`).FindStringSubmatch(readFile(t, "tools/rocketmq/pom.xml"))
	if rmqVersion == nil {
		t.Fatal("tools/rocketmq/pom.xml: no rocketmq.version")
	}
	if !strings.Contains(script, "RMQ_VERSION:-"+rmqVersion[1]+"}") {
		t.Errorf("scripts/services.sh does not default RMQ_VERSION to %s like tools/rocketmq/pom.xml", rmqVersion[1])
	}
	for _, name := range []string{"rmqnamesrv", "rmqbroker"} {
		if img := c.Service(t, name).Image; img != "apache/rocketmq:"+rmqVersion[1] {
			t.Errorf("%s image %q, want apache/rocketmq:%s as make services runs", name, img, rmqVersion[1])
		}
	}
	if img := c.Service(t, "redis").Image; !strings.HasPrefix(img, "redis:") {
		t.Errorf("redis image %q", img)
	}
	if img := c.Service(t, "mysql").Image; !strings.HasPrefix(img, "mariadb:") && !strings.HasPrefix(img, "mysql:") {
		t.Errorf("mysql image %q, want mariadb or mysql", img)
	}
	if cmd := deploytest.Words(c.Service(t, "rmqnamesrv").Command); !slices.Contains(cmd, "mqnamesrv") {
		t.Errorf("rmqnamesrv command %q does not run mqnamesrv", cmd)
	}
}

func TestComposeSeckillEnvironment(t *testing.T) {
	c := deploytest.LoadCompose(t)
	app := c.Service(t, "seckill")
	env := app.Env()

	devToken := regexp.MustCompile(`(?m)^DEV_ADMIN_TOKEN \?= (\S+)$`).FindStringSubmatch(readFile(t, "Makefile"))
	if devToken == nil {
		t.Fatal("Makefile: no DEV_ADMIN_TOKEN")
	}
	if env["SECKILL_ADMIN_TOKEN"] != devToken[1] {
		t.Errorf("SECKILL_ADMIN_TOKEN=%q, want make run's development token %q", env["SECKILL_ADMIN_TOKEN"], devToken[1])
	}

	devSecret := regexp.MustCompile(`(?m)^DEV_BUYER_JWT_SECRET \?= (\S+)$`).FindStringSubmatch(readFile(t, "Makefile"))
	if devSecret == nil || env["SECKILL_BUYER_JWT_SECRET"] != devSecret[1] {
		t.Errorf("SECKILL_BUYER_JWT_SECRET=%q, want make run's development secret %v (serve refuses jwt mode without one)",
			env["SECKILL_BUYER_JWT_SECRET"], devSecret)
	}

	if cmd := deploytest.Words(app.Command); len(cmd) == 0 || cmd[0] != "serve" || !slices.Contains(cmd, "-seed") {
		t.Errorf("seckill command %q, want serve -seed as make run", cmd)
	}
	if app.Build == nil {
		t.Error("seckill is not built from the Dockerfile")
	}
	deps := app.DependsOn()
	for _, dep := range []string{"redis", "mysql", "rmqnamesrv", "rmqbroker"} {
		if deps[dep] != "service_healthy" {
			t.Errorf("seckill depends_on %s: condition %q, want service_healthy", dep, deps[dep])
		}
		if hc := c.Service(t, dep).Healthcheck; hc == nil || hc.Disable || len(deploytest.Words(hc.Test)) < 2 {
			t.Errorf("%s has no healthcheck, so service_healthy never holds", dep)
		}
	}
	if deps := c.Service(t, "rmqbroker").DependsOn(); deps["rmqnamesrv"] == "" {
		t.Error("rmqbroker does not depend on rmqnamesrv")
	}
}

// dockerStages splits a Dockerfile into its stages (instructions joined across line continuations).
func dockerStages(src string) [][]string {
	src = strings.ReplaceAll(src, "\\\n", " ")
	var stages [][]string
	for _, line := range strings.Split(src, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(strings.ToUpper(line), "FROM ") {
			stages = append(stages, nil)
		}
		if len(stages) > 0 {
			stages[len(stages)-1] = append(stages[len(stages)-1], line)
		}
	}
	return stages
}

func TestComposeDockerfile(t *testing.T) {
	stages := dockerStages(readFile(t, "Dockerfile"))
	if len(stages) < 2 {
		t.Fatalf("Dockerfile: %d stages, want a builder and a runtime", len(stages))
	}
	builder, runtime := strings.Join(stages[0], "\n"), stages[len(stages)-1]

	goVersion := regexp.MustCompile(`(?m)^go (\d+)\.(\d+)`).FindStringSubmatch(readFile(t, "go.mod"))
	from := regexp.MustCompile(`(?i)^FROM\s+golang:(\d+)\.(\d+)`).FindStringSubmatch(stages[0][0])
	if goVersion == nil || from == nil {
		t.Fatalf("builder %q: want FROM golang:<major>.<minor> matching go.mod", stages[0][0])
	}
	if gm, _ := strconv.Atoi(goVersion[2]); from[1] != goVersion[1] || mustAtoi(from[2]) < gm {
		t.Errorf("builder golang:%s.%s is older than go.mod's go %s.%s", from[1], from[2], goVersion[1], goVersion[2])
	}
	if !regexp.MustCompile(`CGO_ENABLED=0\s+go build\b[^\n]*\s-o\s+/seckill\s[^\n]*\./cmd/seckill\b`).MatchString(builder) {
		t.Error("builder stage does not run CGO_ENABLED=0 go build -o /seckill ./cmd/seckill")
	}

	last := map[string]string{}
	for _, ins := range runtime {
		kw, rest, _ := strings.Cut(ins, " ")
		last[strings.ToUpper(kw)] = strings.TrimSpace(rest)
	}
	if strings.Contains(strings.ToLower(runtime[0]), "golang") {
		t.Errorf("runtime stage %q ships the Go toolchain", runtime[0])
	}
	if u := last["USER"]; u == "" || u == "root" || u == "0" || strings.HasPrefix(u, "0:") || strings.HasPrefix(u, "root:") {
		t.Errorf("runtime stage runs as %q, want a non-root USER", u)
	}
	if last["ENTRYPOINT"] != `["/seckill"]` {
		t.Errorf("ENTRYPOINT %s, want [\"/seckill\"]", last["ENTRYPOINT"])
	}
	if last["CMD"] != `["serve"]` {
		t.Errorf("CMD %s, want [\"serve\"]", last["CMD"])
	}
	if !slices.Contains(strings.Fields(last["EXPOSE"]), strconv.Itoa(deploytest.ContractPorts["seckill"])) {
		t.Errorf("EXPOSE %q, want %d", last["EXPOSE"], deploytest.ContractPorts["seckill"])
	}

	var patterns []string
	for _, l := range strings.Split(readFile(t, ".dockerignore"), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			patterns = append(patterns, strings.TrimPrefix(l, "/"))
		}
	}
	for _, must := range []string{".git", ".run", ".cache"} {
		if !slices.Contains(patterns, must) {
			t.Errorf(".dockerignore does not exclude %s", must)
		}
	}
	ignored := func(p string) bool {
		for ; p != "."; p = path.Dir(p) {
			for _, pat := range patterns {
				if ok, _ := path.Match(pat, p); ok {
					return true
				}
			}
		}
		return false
	}
	for _, p := range append([]string{"go.mod", "go.sum"}, buildSources(t)...) {
		if ignored(p) {
			t.Errorf(".dockerignore excludes %s, which the build needs", p)
		}
	}
}

func mustAtoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// buildSources lists the module's non-test .go files that `go build ./cmd/seckill` compiles (slash-separated,
// relative to the repository).
func buildSources(t *testing.T) []string {
	t.Helper()
	root, err := filepath.Abs(deploytest.Root())
	if err != nil {
		t.Fatal(err)
	}
	list := exec.Command("go", "list", "-deps", "-f",
		`{{if .Module}}{{if .Module.Main}}{{$d := .Dir}}{{range .GoFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{end}}{{end}}`,
		"./cmd/seckill")
	list.Dir = root
	out, err := list.Output()
	if err != nil {
		t.Fatalf("go list -deps ./cmd/seckill: %v", err)
	}
	var files []string
	for _, f := range strings.Fields(string(out)) {
		rel, err := filepath.Rel(root, f)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, filepath.ToSlash(rel))
	}
	if len(files) == 0 {
		t.Fatal("go list -deps ./cmd/seckill: no source files")
	}
	return files
}

type prometheusConfig struct {
	RuleFiles     []string `yaml:"rule_files"`
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		MetricsPath   string `yaml:"metrics_path"`
		StaticConfigs []struct {
			Targets []string `yaml:"targets"`
		} `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

// mountedAt returns the repository path mounted at the container directory dir by service s.
func mountedAt(t *testing.T, s deploytest.Service, dir string) string {
	t.Helper()
	for src, dst := range s.Binds() {
		if path.Clean(dst) == path.Clean(dir) {
			return src
		}
	}
	t.Fatalf("nothing is mounted at %s (mounts %v)", dir, s.Binds())
	return ""
}

func flagValue(args []string, name string) string {
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

func TestComposePrometheus(t *testing.T) {
	c := deploytest.LoadCompose(t)
	prom := c.Service(t, "prometheus")
	cfgPath := flagValue(deploytest.Words(prom.Command), "--config.file")
	if cfgPath == "" {
		cfgPath = "/etc/prometheus/prometheus.yml"
	}
	dir := mountedAt(t, prom, path.Dir(cfgPath))
	var cfg prometheusConfig
	readRootYAML(t, path.Join(dir, path.Base(cfgPath)), &cfg)

	target := fmt.Sprintf("seckill:%d", deploytest.ContractPorts["seckill"])
	scraped := false
	for _, sc := range cfg.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			if slices.Contains(st.Targets, target) {
				scraped = true
				if sc.MetricsPath != "" && sc.MetricsPath != "/metrics" {
					t.Errorf("job %s scrapes %s%s, want /metrics", sc.JobName, target, sc.MetricsPath)
				}
			}
		}
	}
	if !scraped {
		t.Errorf("prometheus.yml does not scrape %s", target)
	}
	if len(cfg.RuleFiles) == 0 {
		t.Fatal("prometheus.yml loads no rule_files")
	}
	for _, rf := range cfg.RuleFiles {
		if path.IsAbs(rf) {
			rf = path.Join(dir, strings.TrimPrefix(rf, path.Dir(cfgPath)+"/"))
		} else {
			rf = path.Join(dir, rf)
		}
		if _, err := os.Stat(filepath.Join(deploytest.Root(), filepath.FromSlash(rf))); err != nil {
			t.Errorf("rule file: %v", err)
		}
	}

	if !slices.Contains(cfg.RuleFiles, "alerts.yml") && !slices.Contains(cfg.RuleFiles, path.Join(path.Dir(cfgPath), "alerts.yml")) {
		t.Errorf("prometheus.yml rule_files %v do not load alerts.yml", cfg.RuleFiles)
	}
}

type grafanaDashboard struct {
	UID    string         `json:"uid"`
	Title  string         `json:"title"`
	Panels []grafanaPanel `json:"panels"`
}

type grafanaPanel struct {
	Type       string          `json:"type"`
	Title      string          `json:"title"`
	Datasource *grafanaDS      `json:"datasource"`
	Targets    []grafanaTarget `json:"targets"`
	Panels     []grafanaPanel  `json:"panels"`
}

type grafanaDS struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type grafanaTarget struct {
	Expr       string     `json:"expr"`
	Datasource *grafanaDS `json:"datasource"`
}

func loadDashboard(t *testing.T) (grafanaDashboard, []grafanaPanel) {
	t.Helper()
	var d grafanaDashboard
	if err := json.Unmarshal([]byte(readFile(t, "deploy/grafana/dashboards/seckill.json")), &d); err != nil {
		t.Fatalf("seckill.json: %v", err)
	}
	var flat []grafanaPanel
	var walk func([]grafanaPanel)
	walk = func(ps []grafanaPanel) {
		for _, p := range ps {
			if p.Type != "row" {
				flat = append(flat, p)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return d, flat
}

func TestComposeGrafana(t *testing.T) {
	c := deploytest.LoadCompose(t)
	graf := c.Service(t, "grafana")
	prov := mountedAt(t, graf, "/etc/grafana/provisioning")

	var ds struct {
		Datasources []struct {
			Name, UID, Type, URL string
		} `yaml:"datasources"`
	}
	readRootYAML(t, path.Join(prov, "datasources/prometheus.yml"), &ds)
	if len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" {
		t.Fatalf("datasources: %+v, want one prometheus", ds.Datasources)
	}
	uid := ds.Datasources[0].UID
	if want := fmt.Sprintf("http://prometheus:%d", 9090); ds.Datasources[0].URL != want {
		t.Errorf("datasource url %q, want %s", ds.Datasources[0].URL, want)
	}
	if _, ok := c.Service(t, "prometheus").Published(t)[9090]; !ok {
		t.Error("prometheus does not expose 9090")
	}

	var dp struct {
		Providers []struct {
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readRootYAML(t, path.Join(prov, "dashboards/seckill.yml"), &dp)
	if len(dp.Providers) == 0 {
		t.Fatal("no dashboard provider")
	}
	if src := mountedAt(t, graf, dp.Providers[0].Options.Path); src != "deploy/grafana/dashboards" {
		t.Errorf("dashboard provider reads %s, which mounts %s, not deploy/grafana/dashboards", dp.Providers[0].Options.Path, src)
	}

	d, panels := loadDashboard(t)
	if d.UID == "" || d.Title == "" || len(panels) == 0 {
		t.Fatalf("dashboard: uid %q, title %q, %d panels", d.UID, d.Title, len(panels))
	}
	for _, p := range panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		if p.Datasource == nil || p.Datasource.UID != uid {
			t.Errorf("panel %q: datasource %+v, want uid %q", p.Title, p.Datasource, uid)
		}
		for _, tg := range p.Targets {
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("panel %q: empty query", p.Title)
			}
		}
	}
}

func readProperties(t *testing.T, name string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, l := range strings.Split(readFile(t, name), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			t.Fatalf("%s: %q is not key=value", name, l)
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out
}

func TestComposeBrokerConf(t *testing.T) {
	c := deploytest.LoadCompose(t)
	broker := c.Service(t, "rmqbroker")
	cmd := deploytest.Words(broker.Command)
	if !slices.Contains(cmd, "mqbroker") {
		t.Fatalf("rmqbroker command %q does not run mqbroker", cmd)
	}
	confPath := flagValue(cmd, "-c")
	if confPath == "" {
		t.Fatalf("rmqbroker command %q passes no -c config", cmd)
	}
	src := mountedAt(t, broker, confPath)
	if src != "deploy/rocketmq/broker.conf" {
		t.Errorf("rmqbroker reads %s from %s, want deploy/rocketmq/broker.conf", confPath, src)
	}
	env := c.Service(t, "seckill").Env()
	if ns := flagValue(cmd, "-n"); ns != env["SECKILL_ROCKETMQ_NAMESRV"] {
		t.Errorf("rmqbroker registers with -n %q, seckill uses SECKILL_ROCKETMQ_NAMESRV=%q", ns, env["SECKILL_ROCKETMQ_NAMESRV"])
	}

	conf := readProperties(t, "deploy/rocketmq/broker.conf")
	local := readProperties(t, "tools/rocketmq/broker.conf.in")
	for _, k := range []string{"timerWheelEnable", "timerPrecisionMs", "timerFlushIntervalMs", "autoCreateTopicEnable", "autoCreateSubscriptionGroup",
		"defaultTopicQueueNums", "brokerClusterName", "brokerName", "brokerId", "brokerRole", "flushDiskType", "enablePropertyFilter"} {
		if local[k] == "" {
			t.Errorf("tools/rocketmq/broker.conf.in does not set %s", k)
		} else if conf[k] != local[k] {
			t.Errorf("deploy/rocketmq/broker.conf %s=%q, make services runs %s=%q", k, conf[k], k, local[k])
		}
	}
	for k, v := range conf {
		if strings.Contains(v, "@") {
			t.Errorf("deploy/rocketmq/broker.conf %s=%s keeps a template placeholder", k, v)
		}
	}
	if b := conf["bindAddress"]; b != "" && b != "0.0.0.0" {
		t.Errorf("bindAddress=%s: the other containers could not reach the broker", b)
	}
	host, port := deploytest.HostPort(t, "SECKILL_ROCKETMQ_BROKER", env["SECKILL_ROCKETMQ_BROKER"])
	if conf["listenPort"] != "" && conf["listenPort"] != strconv.Itoa(port) {
		t.Errorf("listenPort=%s, seckill dials SECKILL_ROCKETMQ_BROKER=%s", conf["listenPort"], env["SECKILL_ROCKETMQ_BROKER"])
	}
	if ip := conf["brokerIP1"]; ip != host {
		t.Errorf("brokerIP1=%q: the NameServer hands this address to seckill, want %q (resolvable in the compose network)", ip, host)
	}
}
