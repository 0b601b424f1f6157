// Package deploytest reads compose.yaml for the tests that keep it in step with the code: deploy's own checks
// of the files it ships, and cmd/seckill's check of the seckill service's environment against the real Config.
package deploytest

import (
	"fmt"
	"net"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// ContractPorts are the ports of CONTRACT.md, by compose service; host and container ports are both these.
var ContractPorts = map[string]int{"seckill": 8080, "redis": 6379, "mysql": 3306, "rmqnamesrv": 9876, "rmqbroker": 10911}

// HostPort splits a host:port setting, failing the test (naming what) when it is not one.
func HostPort(t testing.TB, what, addr string) (string, int) {
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

// Root is the repository's directory, which holds compose.yaml, wherever the test runs from.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// LoadCompose parses Root()/compose.yaml.
func LoadCompose(t testing.TB) Compose {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(Root(), "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c Compose
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	if len(c.Services) == 0 {
		t.Fatal("compose.yaml: no services")
	}
	return c
}

// Compose is the part of compose.yaml the checks read.
type Compose struct {
	Services map[string]Service `yaml:"services"`
}

// Service is one compose service.
type Service struct {
	Image       string       `yaml:"image"`
	Build       any          `yaml:"build"`
	Command     any          `yaml:"command"`
	Environment any          `yaml:"environment"`
	Ports       []any        `yaml:"ports"`
	Volumes     []any        `yaml:"volumes"`
	Depends     any          `yaml:"depends_on"`
	Healthcheck *Healthcheck `yaml:"healthcheck"`
}

// Healthcheck is a service's healthcheck.
type Healthcheck struct {
	Test    any  `yaml:"test"`
	Disable bool `yaml:"disable"`
}

// Service returns the named service, failing the test when compose.yaml has none.
func (c Compose) Service(t testing.TB, name string) Service {
	t.Helper()
	s, ok := c.Services[name]
	if !ok {
		t.Fatalf("compose.yaml: no service %q", name)
	}
	return s
}

// Words returns a command or healthcheck test given as a list or as one string.
func Words(v any) []string {
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

// Env returns the service's environment (map or list syntax); a variable without a value is left out.
func (s Service) Env() map[string]string {
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

// Published maps container ports to host ports (short "[ip:]host:container[/proto]" or long syntax).
func (s Service) Published(t testing.TB) map[int]int {
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

// Binds maps the host paths of bind mounts (cleaned, relative to the repo) to their container paths.
func (s Service) Binds() map[string]string {
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

// DependsOn maps each service s depends on to the condition it waits for.
func (s Service) DependsOn() map[string]string {
	out := map[string]string{}
	switch d := s.Depends.(type) {
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
