// Package seckill_test keeps compose.yaml and the Dockerfile in step with the code and with `make services`
// without a Docker engine: the tests parse the files and compare them with cmd/seckill/config.go,
// scripts/services.sh, tools/rocketmq/ and deploy/. The dashboard and the alert rules themselves are proven in
// deploy/ (promtool unit tests, and a real Prometheus scraping a real sale).
package seckill_test

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
	"go.yaml.in/yaml/v3"
)

// contractPorts are the ports of CONTRACT.md, by compose service; host and container ports are both these.
var contractPorts = map[string]int{"seckill": 8080, "redis": 6379, "mysql": 3306, "rmqnamesrv": 9876, "rmqbroker": 10911}

// configService names the compose service each address setting of cmd/seckill/config.go points at.
var configService = map[string]string{
	"SECKILL_HTTP_ADDR":        "seckill",
	"SECKILL_REDIS_ADDR":       "redis",
	"SECKILL_MYSQL_DSN":        "mysql",
	"SECKILL_ROCKETMQ_NAMESRV": "rmqnamesrv",
	"SECKILL_ROCKETMQ_BROKER":  "rmqbroker",
}

// servicesPortVar names the port variable of scripts/services.sh for each infrastructure service.
var servicesPortVar = map[string]string{"redis": "REDIS_PORT", "mysql": "MYSQL_PORT", "rmqnamesrv": "NS_PORT", "rmqbroker": "BROKER_PORT"}

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
}

type composeService struct {
	Image       string       `yaml:"image"`
	Build       any          `yaml:"build"`
	Command     any          `yaml:"command"`
	Environment any          `yaml:"environment"`
	Ports       []any        `yaml:"ports"`
	Volumes     []any        `yaml:"volumes"`
	DependsOn   any          `yaml:"depends_on"`
	Healthcheck *healthcheck `yaml:"healthcheck"`
}

type healthcheck struct {
	Test    any  `yaml:"test"`
	Disable bool `yaml:"disable"`
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.FromSlash(name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func readYAML(t *testing.T, name string, v any) {
	t.Helper()
	if err := yaml.Unmarshal([]byte(readFile(t, name)), v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	var c composeFile
	readYAML(t, "compose.yaml", &c)
	if len(c.Services) == 0 {
		t.Fatal("compose.yaml: no services")
	}
	return c
}

func (c composeFile) service(t *testing.T, name string) composeService {
	t.Helper()
	s, ok := c.Services[name]
	if !ok {
		t.Fatalf("compose.yaml: no service %q", name)
	}
	return s
}

// words returns a command or healthcheck test given as a list or as one string.
func words(v any) []string {
	switch v := v.(type) {
	case string:
		return strings.Fields(v)
	case []any:
		out := make([]string, len(v))
		for i, w := range v {
			out[i] = fmt.Sprint(w)
		}
		return out
	}
	return nil
}

func (s composeService) env() map[string]string {
	out := map[string]string{}
	switch e := s.Environment.(type) {
	case map[string]any:
		for k, v := range e {
			if v != nil {
				out[k] = fmt.Sprint(v)
			}
		}
	case []any:
		for _, kv := range e {
			k, v, _ := strings.Cut(fmt.Sprint(kv), "=")
			out[k] = v
		}
	}
	return out
}

// published maps container ports to host ports (short "[ip:]host:container[/proto]" or long syntax).
func (s composeService) published(t *testing.T) map[int]int {
	t.Helper()
	out := map[int]int{}
	atoi := func(v any) int {
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSuffix(fmt.Sprint(v), "/tcp"), "/udp"))
		if err != nil {
			t.Fatalf("compose.yaml: port %v is not a single port", v)
		}
		return n
	}
	for _, p := range s.Ports {
		switch p := p.(type) {
		case map[string]any:
			if p["published"] != nil {
				out[atoi(p["target"])] = atoi(p["published"])
			}
		default:
			parts := strings.Split(fmt.Sprint(p), ":")
			if len(parts) < 2 {
				continue
			}
			out[atoi(parts[len(parts)-1])] = atoi(parts[len(parts)-2])
		}
	}
	return out
}

// binds maps the host paths of bind mounts (cleaned, relative to the repo) to their container paths.
func (s composeService) binds() map[string]string {
	out := map[string]string{}
	for _, v := range s.Volumes {
		switch v := v.(type) {
		case map[string]any:
			if v["type"] == "bind" {
				out[path.Clean(fmt.Sprint(v["source"]))] = fmt.Sprint(v["target"])
			}
		default:
			parts := strings.Split(fmt.Sprint(v), ":")
			if len(parts) >= 2 && (strings.HasPrefix(parts[0], ".") || strings.HasPrefix(parts[0], "/")) {
				out[path.Clean(parts[0])] = parts[1]
			}
		}
	}
	return out
}

func (s composeService) dependsOn() map[string]string {
	out := map[string]string{}
	switch d := s.DependsOn.(type) {
	case []any:
		for _, n := range d {
			out[fmt.Sprint(n)] = "service_started"
		}
	case map[string]any:
		for n, v := range d {
			cond := "service_started"
			if m, ok := v.(map[string]any); ok && m["condition"] != nil {
				cond = fmt.Sprint(m["condition"])
			}
			out[n] = cond
		}
	}
	return out
}

// configDefaults returns every SECKILL_* variable cmd/seckill/config.go reads, with its default when it is a
// string literal.
func configDefaults(t *testing.T) map[string]string {
	t.Helper()
	src := readFile(t, "cmd/seckill/config.go")
	out := map[string]string{}
	for _, m := range regexp.MustCompile(`"(SECKILL_[A-Z0-9_]+)"`).FindAllStringSubmatch(src, -1) {
		out[m[1]] = ""
	}
	for _, m := range regexp.MustCompile(`r\.\w+\("(SECKILL_[A-Z0-9_]+)",\s*"([^"]*)"`).FindAllStringSubmatch(src, -1) {
		out[m[1]] = m[2]
	}
	return out
}

func hostPort(t *testing.T, what, addr string) (string, int) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("%s=%q: %v", what, addr, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("%s=%q: port %q is not a number", what, addr, p)
	}
	return h, n
}

// defaultPort is the port of a setting's default: host:port, the first of a list, or a DSN's address.
func defaultPort(t *testing.T, name, def string) int {
	t.Helper()
	if name == "SECKILL_MYSQL_DSN" {
		cfg, err := mysql.ParseDSN(def)
		if err != nil {
			t.Fatalf("default %s: %v", name, err)
		}
		def = cfg.Addr
	}
	_, p := hostPort(t, "default "+name, strings.Split(def, ",")[0])
	return p
}

func TestComposeServicesAndPorts(t *testing.T) {
	c := loadCompose(t)
	defaults := configDefaults(t)
	script := readFile(t, "scripts/services.sh")
	for _, name := range []string{"redis", "mysql", "rmqnamesrv", "rmqbroker", "seckill", "prometheus", "grafana"} {
		c.service(t, name)
	}
	for setting, svc := range configService {
		def, ok := defaults[setting]
		if !ok || def == "" {
			t.Fatalf("cmd/seckill/config.go has no string default for %s", setting)
		}
		if p := defaultPort(t, setting, def); p != contractPorts[svc] {
			t.Errorf("config.go default %s=%s: port %d, CONTRACT.md says %d", setting, def, p, contractPorts[svc])
		}
	}
	for svc, v := range servicesPortVar {
		m := regexp.MustCompile(`(?m)^` + v + `=(?:\$\{SECKILL_[A-Z]+_PORT:-(\d+)\}|(\d+))$`).FindStringSubmatch(script)
		if m == nil {
			t.Fatalf("scripts/services.sh sets no %s", v)
		}
		if port := m[1] + m[2]; port != strconv.Itoa(contractPorts[svc]) {
			t.Errorf("scripts/services.sh %s=%s, want %d", v, port, contractPorts[svc])
		}
	}

	want := map[string]int{"prometheus": 9090, "grafana": 3000}
	for k, v := range contractPorts {
		want[k] = v
	}
	hostPorts := map[int]string{}
	for name, s := range c.Services {
		for container, host := range s.published(t) {
			if other, dup := hostPorts[host]; dup {
				t.Errorf("host port %d published by both %s and %s", host, other, name)
			}
			hostPorts[host] = name
			if host != container {
				t.Errorf("%s publishes container port %d on host port %d; make services uses the same port on both", name, container, host)
			}
		}
		if p, ok := want[name]; ok {
			if host, ok := s.published(t)[p]; !ok || host != p {
				t.Errorf("%s: container port %d is not published as %d (ports %v)", name, p, p, s.Ports)
			}
		}
		for src := range s.binds() {
			if _, err := os.Stat(filepath.FromSlash(src)); err != nil {
				t.Errorf("%s mounts %s: %v", name, src, err)
			}
		}
	}

	broker := c.service(t, "rmqbroker").published(t)
	for _, p := range []int{contractPorts["rmqbroker"] - 2, contractPorts["rmqbroker"] + 1} {
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
		if img := c.service(t, name).Image; img != "apache/rocketmq:"+rmqVersion[1] {
			t.Errorf("%s image %q, want apache/rocketmq:%s as make services runs", name, img, rmqVersion[1])
		}
	}
	if img := c.service(t, "redis").Image; !strings.HasPrefix(img, "redis:") {
		t.Errorf("redis image %q", img)
	}
	if img := c.service(t, "mysql").Image; !strings.HasPrefix(img, "mariadb:") && !strings.HasPrefix(img, "mysql:") {
		t.Errorf("mysql image %q, want mariadb or mysql", img)
	}
	if cmd := words(c.service(t, "rmqnamesrv").Command); !slices.Contains(cmd, "mqnamesrv") {
		t.Errorf("rmqnamesrv command %q does not run mqnamesrv", cmd)
	}
}

func TestComposeSeckillEnvironment(t *testing.T) {
	c := loadCompose(t)
	defaults := configDefaults(t)
	app := c.service(t, "seckill")
	env := app.env()

	for k := range env {
		if _, ok := defaults[k]; strings.HasPrefix(k, "SECKILL_") && !ok {
			t.Errorf("seckill environment sets %s, which cmd/seckill/config.go does not read", k)
		}
	}
	for setting, svc := range configService {
		v, ok := env[setting]
		if !ok {
			t.Errorf("seckill environment does not set %s (its default %s is loopback, unusable in a container)", setting, defaults[setting])
			continue
		}
		wantPort := defaultPort(t, setting, defaults[setting])
		addrs := strings.Split(v, ",")
		if setting == "SECKILL_MYSQL_DSN" {
			addrs = []string{checkDSN(t, c, v, defaults[setting])}
		}
		for _, a := range addrs {
			host, port := hostPort(t, setting, strings.TrimSpace(a))
			if port != wantPort {
				t.Errorf("%s=%s: port %d, the default uses %d", setting, v, port, wantPort)
			}
			if setting == "SECKILL_HTTP_ADDR" {
				if host != "0.0.0.0" && host != "" && host != "::" {
					t.Errorf("%s=%s: listen on all interfaces so that the published port reaches it", setting, v)
				}
				host = svc
			}
			if host != svc {
				t.Errorf("%s=%s: host %q, want the compose service %q", setting, v, host, svc)
			}
			if _, ok := c.service(t, svc).published(t)[port]; !ok {
				t.Errorf("%s=%s: service %s does not expose port %d", setting, v, svc, port)
			}
		}
	}

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

	if cmd := words(app.Command); len(cmd) == 0 || cmd[0] != "serve" || !slices.Contains(cmd, "-seed") {
		t.Errorf("seckill command %q, want serve -seed as make run", cmd)
	}
	if app.Build == nil {
		t.Error("seckill is not built from the Dockerfile")
	}
	deps := app.dependsOn()
	for _, dep := range []string{"redis", "mysql", "rmqnamesrv", "rmqbroker"} {
		if deps[dep] != "service_healthy" {
			t.Errorf("seckill depends_on %s: condition %q, want service_healthy", dep, deps[dep])
		}
		if hc := c.service(t, dep).Healthcheck; hc == nil || hc.Disable || len(words(hc.Test)) < 2 {
			t.Errorf("%s has no healthcheck, so service_healthy never holds", dep)
		}
	}
	if deps := c.service(t, "rmqbroker").dependsOn(); deps["rmqnamesrv"] == "" {
		t.Error("rmqbroker does not depend on rmqnamesrv")
	}
}

// checkDSN compares the compose DSN with the default and with the mysql service; it returns the DSN's address.
func checkDSN(t *testing.T, c composeFile, dsn, def string) string {
	t.Helper()
	got, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("SECKILL_MYSQL_DSN=%q: %v", dsn, err)
	}
	want, err := mysql.ParseDSN(def)
	if err != nil {
		t.Fatalf("default SECKILL_MYSQL_DSN=%q: %v", def, err)
	}
	if got.User != want.User || got.Passwd != want.Passwd || got.DBName != want.DBName || got.Net != want.Net || !got.ParseTime {
		t.Errorf("SECKILL_MYSQL_DSN=%q: want user, password, database and protocol of %q and parseTime=true", dsn, def)
	}
	menv := c.service(t, "mysql").env()
	for key, v := range map[string]string{"USER": got.User, "PASSWORD": got.Passwd, "DATABASE": got.DBName} {
		if menv["MYSQL_"+key] != v && menv["MARIADB_"+key] != v {
			t.Errorf("mysql service: MYSQL_%s (or MARIADB_%s) is not %q as in SECKILL_MYSQL_DSN", key, key, v)
		}
	}
	return got.Addr
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
	if !slices.Contains(strings.Fields(last["EXPOSE"]), strconv.Itoa(contractPorts["seckill"])) {
		t.Errorf("EXPOSE %q, want %d", last["EXPOSE"], contractPorts["seckill"])
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
	out, err := exec.Command("go", "list", "-deps", "-f",
		`{{if .Module}}{{if .Module.Main}}{{$d := .Dir}}{{range .GoFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{end}}{{end}}`,
		"./cmd/seckill").Output()
	if err != nil {
		t.Fatalf("go list -deps ./cmd/seckill: %v", err)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, f := range strings.Fields(string(out)) {
		rel, err := filepath.Rel(wd, f)
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
func mountedAt(t *testing.T, s composeService, dir string) string {
	t.Helper()
	for src, dst := range s.binds() {
		if path.Clean(dst) == path.Clean(dir) {
			return src
		}
	}
	t.Fatalf("nothing is mounted at %s (mounts %v)", dir, s.binds())
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
	c := loadCompose(t)
	prom := c.service(t, "prometheus")
	cfgPath := flagValue(words(prom.Command), "--config.file")
	if cfgPath == "" {
		cfgPath = "/etc/prometheus/prometheus.yml"
	}
	dir := mountedAt(t, prom, path.Dir(cfgPath))
	var cfg prometheusConfig
	readYAML(t, path.Join(dir, path.Base(cfgPath)), &cfg)

	target := fmt.Sprintf("seckill:%d", contractPorts["seckill"])
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
		if _, err := os.Stat(filepath.FromSlash(rf)); err != nil {
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
	c := loadCompose(t)
	graf := c.service(t, "grafana")
	prov := mountedAt(t, graf, "/etc/grafana/provisioning")

	var ds struct {
		Datasources []struct {
			Name, UID, Type, URL string
		} `yaml:"datasources"`
	}
	readYAML(t, path.Join(prov, "datasources/prometheus.yml"), &ds)
	if len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" {
		t.Fatalf("datasources: %+v, want one prometheus", ds.Datasources)
	}
	uid := ds.Datasources[0].UID
	if want := fmt.Sprintf("http://prometheus:%d", 9090); ds.Datasources[0].URL != want {
		t.Errorf("datasource url %q, want %s", ds.Datasources[0].URL, want)
	}
	if _, ok := c.service(t, "prometheus").published(t)[9090]; !ok {
		t.Error("prometheus does not expose 9090")
	}

	var dp struct {
		Providers []struct {
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, path.Join(prov, "dashboards/seckill.yml"), &dp)
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
	c := loadCompose(t)
	broker := c.service(t, "rmqbroker")
	cmd := words(broker.Command)
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
	env := c.service(t, "seckill").env()
	if ns := flagValue(cmd, "-n"); ns != env["SECKILL_ROCKETMQ_NAMESRV"] {
		t.Errorf("rmqbroker registers with -n %q, seckill uses SECKILL_ROCKETMQ_NAMESRV=%q", ns, env["SECKILL_ROCKETMQ_NAMESRV"])
	}

	conf := readProperties(t, "deploy/rocketmq/broker.conf")
	local := readProperties(t, "tools/rocketmq/broker.conf.in")
	for _, k := range []string{"timerWheelEnable", "timerPrecisionMs", "autoCreateTopicEnable", "autoCreateSubscriptionGroup",
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
	host, port := hostPort(t, "SECKILL_ROCKETMQ_BROKER", env["SECKILL_ROCKETMQ_BROKER"])
	if conf["listenPort"] != "" && conf["listenPort"] != strconv.Itoa(port) {
		t.Errorf("listenPort=%s, seckill dials SECKILL_ROCKETMQ_BROKER=%s", conf["listenPort"], env["SECKILL_ROCKETMQ_BROKER"])
	}
	if ip := conf["brokerIP1"]; ip != host {
		t.Errorf("brokerIP1=%q: the NameServer hands this address to seckill, want %q (resolvable in the compose network)", ip, host)
	}
}
