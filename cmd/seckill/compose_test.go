package main

import (
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/seckill/seckill/deploy/deploytest"
)

// TestComposeEnvironmentIsAConfig holds the seckill service of compose.yaml to the real Config: it sets only
// variables loadConfig reads, loadConfig accepts what it sets, and every address setting names the compose
// service it means, on the port of the default (CONTRACT.md's), which that service publishes.
func TestComposeEnvironmentIsAConfig(t *testing.T) {
	c := deploytest.LoadCompose(t)
	env := c.Service(t, "seckill").Env()

	read := map[string]bool{}
	def, err := loadConfig(func(name string) string { read[name] = true; return "" })
	if err != nil {
		t.Fatal(err)
	}
	for k := range env {
		if strings.HasPrefix(k, "SECKILL_") && !read[k] {
			t.Errorf("seckill environment sets %s, which loadConfig does not read", k)
		}
	}
	if _, err := loadConfig(envOf(env)); err != nil {
		t.Errorf("loadConfig refuses the seckill environment of compose.yaml: %v", err)
	}

	defDSN, err := mysql.ParseDSN(def.MySQLDSN)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []struct{ setting, service, def string }{
		{"SECKILL_HTTP_ADDR", "seckill", def.HTTPAddr},
		{"SECKILL_REDIS_ADDR", "redis", def.RedisAddrs[0]},
		{"SECKILL_MYSQL_DSN", "mysql", defDSN.Addr},
		{"SECKILL_ROCKETMQ_NAMESRV", "rmqnamesrv", def.Namesrv[0]},
		{"SECKILL_ROCKETMQ_BROKER", "rmqbroker", def.Brokers[0]},
	} {
		_, wantPort := deploytest.HostPort(t, "default "+a.setting, a.def)
		if wantPort != deploytest.ContractPorts[a.service] {
			t.Errorf("default %s=%s: port %d, CONTRACT.md says %d", a.setting, a.def, wantPort, deploytest.ContractPorts[a.service])
		}
		v, ok := env[a.setting]
		if !ok {
			t.Errorf("seckill environment does not set %s (its default %s is loopback, unusable in a container)", a.setting, a.def)
			continue
		}
		addrs := strings.Split(v, ",")
		if a.setting == "SECKILL_MYSQL_DSN" {
			addrs = []string{composeDSN(t, c, v, defDSN)}
		}
		for _, addr := range addrs {
			host, port := deploytest.HostPort(t, a.setting, strings.TrimSpace(addr))
			if port != wantPort {
				t.Errorf("%s=%s: port %d, the default uses %d", a.setting, v, port, wantPort)
			}
			if a.setting == "SECKILL_HTTP_ADDR" {
				if host != "0.0.0.0" && host != "" && host != "::" {
					t.Errorf("%s=%s: listen on all interfaces so that the published port reaches it", a.setting, v)
				}
				host = a.service
			}
			if host != a.service {
				t.Errorf("%s=%s: host %q, want the compose service %q", a.setting, v, host, a.service)
			}
			if _, ok := c.Service(t, a.service).Published(t)[port]; !ok {
				t.Errorf("%s=%s: service %s does not expose port %d", a.setting, v, a.service, port)
			}
		}
	}
}

// composeDSN compares the compose DSN with the default and with the mysql service; it returns the DSN's address.
func composeDSN(t *testing.T, c deploytest.Compose, dsn string, def *mysql.Config) string {
	t.Helper()
	got, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("SECKILL_MYSQL_DSN=%q: %v", dsn, err)
	}
	if got.User != def.User || got.Passwd != def.Passwd || got.DBName != def.DBName || got.Net != def.Net || !got.ParseTime {
		t.Errorf("SECKILL_MYSQL_DSN=%q: want user, password, database and protocol of the default and parseTime=true", dsn)
	}
	menv := c.Service(t, "mysql").Env()
	for key, v := range map[string]string{"USER": got.User, "PASSWORD": got.Passwd, "DATABASE": got.DBName} {
		if menv["MYSQL_"+key] != v && menv["MARIADB_"+key] != v {
			t.Errorf("mysql service: MYSQL_%s (or MARIADB_%s) is not %q as in SECKILL_MYSQL_DSN", key, key, v)
		}
	}
	return got.Addr
}
