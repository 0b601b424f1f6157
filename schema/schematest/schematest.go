// Package schematest gives integration tests their own MySQL database, a Redis client and the RocketMQ address
// of the real services started by `make services`.
//
// A missing service fails the test: a run without the services never ends in a silent ok. Only an explicit
// SECKILL_SKIP_SERVICES=1 (for a quick unit-test run on a machine without them) turns the failure into a skip, and
// SECKILL_REQUIRE_SERVICES=1 (as `make test` and CI set it) overrides that opt-out.
package schematest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/schema"
)

// Default addresses, overridable with the variables the binary reads.
const (
	DefaultMySQLDSN = "seckill:seckill@tcp(127.0.0.1:3306)/seckill?parseTime=true"
	DefaultRedis    = "127.0.0.1:6379"
	DefaultNamesrv  = "127.0.0.1:9876"
	DefaultBroker   = "127.0.0.1:10911"
)

// Unavailable fails the test for a missing service, or skips it when the run opted out with
// SECKILL_SKIP_SERVICES=1 (and SECKILL_REQUIRE_SERVICES=1 is not set).
func Unavailable(t testing.TB, service string, err error) {
	t.Helper()
	if os.Getenv("SECKILL_SKIP_SERVICES") == "1" && os.Getenv("SECKILL_REQUIRE_SERVICES") != "1" {
		t.Skipf("%s unavailable, skipped (SECKILL_SKIP_SERVICES=1): %v", service, err)
	}
	t.Fatalf("%s is unavailable (run `make services`, or set SECKILL_SKIP_SERVICES=1 to skip the tests that need it): %v",
		service, err)
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// RandomSuffix returns 12 random hex characters for test-private names.
func RandomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// DSN is the configured MySQL DSN (SECKILL_MYSQL_DSN).
func DSN() string { return env("SECKILL_MYSQL_DSN", DefaultMySQLDSN) }

// Database is a migrated, test-private MySQL database.
type Database struct {
	DB   *sql.DB
	Name string
	DSN  string
}

// MySQL creates the database seckill_test_<random>, applies schema.Migrate and drops it when the test ends.
func MySQL(t testing.TB) Database {
	t.Helper()
	cfg, err := mysql.ParseDSN(DSN())
	if err != nil {
		t.Fatalf("SECKILL_MYSQL_DSN: %v", err)
	}
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		Unavailable(t, "MySQL", err)
	}
	name := "seckill_test_" + RandomSuffix()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() { _, _ = admin.Exec("DROP DATABASE IF EXISTS " + name) })
	cfg.DBName = name
	dsn := cfg.FormatDSN()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(32)
	t.Cleanup(func() { _ = db.Close() })
	if err := schema.Migrate(ctx, db); err != nil {
		t.Fatalf("migrate %s: %v", name, err)
	}
	return Database{DB: db, Name: name, DSN: dsn}
}

// RedisAddr is the configured Redis address (SECKILL_REDIS_ADDR).
func RedisAddr() string { return env("SECKILL_REDIS_ADDR", DefaultRedis) }

// Redis returns a client of the test Redis. Tests isolate themselves by using fresh product ids (ProductID).
func Redis(t testing.TB) *redis.Client { return RedisDB(t, 0) }

// Redis databases of their own for the tests of packages that run an outbox relay on a private topic: a relay
// pass walks every product of its database, so in a shared one it would move other tests' outbox entries to its
// own topic.
const (
	RedisDBOutbox  = 9
	RedisDBHTTPAPI = 10
	// RedisDBHandlers keeps the handlers tests' outbox entries (reservations and settlements made through the
	// real scripts) away from the relays of other packages' servers.
	RedisDBHandlers = 11
	// RedisDBSale keeps the sale package's tests, whose service delivers nothing, away from other packages'
	// relays: their events stay in the outbox.
	RedisDBSale = 12
)

// RedisDB returns a client of database db of the test Redis.
func RedisDB(t testing.TB, db int) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: RedisAddr(), DB: db, PoolSize: 64})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		Unavailable(t, "Redis", err)
	}
	return rdb
}

// ProductID returns a product id no other test run uses, and removes its Redis keys when the test ends.
func ProductID(t testing.TB, rdb redis.Cmdable) int64 {
	t.Helper()
	var b [4]byte
	_, _ = rand.Read(b[:])
	id := 1_000_000 + int64(binary.BigEndian.Uint32(b[:])>>1)
	t.Cleanup(func() {
		k := schema.KeysFor(id)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		rdb.Del(ctx, k.Stock, k.Info, k.Buyers, k.Orders, k.Seq, k.Outbox, schema.OutboxDeadKey(id))
		rdb.SRem(ctx, schema.ProductsKey, id)
	})
	return id
}

// Namesrv returns the RocketMQ NameServer address (SECKILL_ROCKETMQ_NAMESRV) after checking that it answers.
func Namesrv(t testing.TB) string {
	t.Helper()
	addr := env("SECKILL_ROCKETMQ_NAMESRV", DefaultNamesrv)
	for _, a := range []string{addr, Broker()} {
		c, err := net.DialTimeout("tcp", a, 2*time.Second)
		if err != nil {
			Unavailable(t, "RocketMQ", err)
		}
		_ = c.Close()
	}
	return addr
}

// Broker returns the RocketMQ broker address (SECKILL_ROCKETMQ_BROKER).
func Broker() string { return env("SECKILL_ROCKETMQ_BROKER", DefaultBroker) }

// ServicesScript returns the absolute path of scripts/services.sh, used by tests that stop and start services.
func ServicesScript() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "scripts", "services.sh")
}

// Topic returns a test-private topic name with the given prefix.
func Topic(prefix string) string { return fmt.Sprintf("%s-%s", prefix, RandomSuffix()) }
