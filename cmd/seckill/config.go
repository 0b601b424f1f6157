package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/buyerauth"
	"github.com/seckill/seckill/events"
	"github.com/seckill/seckill/handlers"
	"github.com/seckill/seckill/sale"
)

// Config is every setting of the seckill binary, read from the environment once in main.
type Config struct {
	HTTPAddr        string          // SECKILL_HTTP_ADDR
	RedisAddrs      []string        // SECKILL_REDIS_ADDR (comma-separated: several addresses are Redis Cluster's seed nodes)
	RedisCluster    bool            // SECKILL_REDIS_CLUSTER: Redis Cluster even with one address (implied by several)
	MySQLDSN        string          // SECKILL_MYSQL_DSN
	Namesrv         []string        // SECKILL_ROCKETMQ_NAMESRV (comma-separated)
	Brokers         []string        // SECKILL_ROCKETMQ_BROKER (comma-separated): the brokers missing topics are created on
	AdminToken      string          // SECKILL_ADMIN_TOKEN: empty means admin endpoints answer 401
	BuyerAuth       string          // SECKILL_BUYER_AUTH: jwt (verified bearer tokens) or trusted (the request names the buyer)
	BuyerSecret     string          // SECKILL_BUYER_JWT_SECRET: the HS256 secret of buyer tokens, required in jwt mode
	BuyerPublicKey  string          // SECKILL_BUYER_JWT_PUBLIC_KEY: PEM file of an identity provider's EdDSA or RS256 key
	Topic           string          // SECKILL_TOPIC: the event topic (4 queues)
	ConsumerGroup   string          // SECKILL_CONSUMER_GROUP: the projections' group; retry, DLQ, timeout names derive from it
	MaxPerUser      int64           // SECKILL_MAX_PER_USER
	RatePerUser     float64         // SECKILL_RATE_PER_USER: buy requests per second per buyer, 0 = off
	Throttle        int             // SECKILL_CONSUMER_THROTTLE: events per second the projections take, 0 = off
	InFlight        int             // SECKILL_CONSUMER_INFLIGHT: messages of one queue the consumers take at once
	PaymentTimeout  time.Duration   // SECKILL_PAYMENT_TIMEOUT
	RetrySchedule   []time.Duration // SECKILL_RETRY_SCHEDULE: comma-separated delays of the broker-delayed retries
	OutboxMinAge    time.Duration   // SECKILL_OUTBOX_MIN_AGE: when the relay republishes an unconfirmed event
	Consumers       bool            // SECKILL_CONSUMERS: run the projection consumers inside `serve`
	ShutdownDrain   time.Duration   // SECKILL_SHUTDOWN_DRAIN: /readyz answers 503 this long before the listener closes
	ShutdownTimeout time.Duration   // SECKILL_SHUTDOWN_TIMEOUT
	LogLevel        slog.Level      // SECKILL_LOG_LEVEL: debug, info, warn, error
	PprofAddr       string          // SECKILL_PPROF_ADDR: where to serve /debug/pprof, empty = nowhere
	Dev             bool            // SECKILL_DEV: development mode (the buyer's page offers a sign-in by user id)
}

// loadConfig reads the environment through getenv and validates every value, naming the variable of the first
// bad one.
func loadConfig(getenv func(string) string) (Config, error) {
	r := envReader{getenv: getenv}
	c := Config{
		HTTPAddr:        r.addr("SECKILL_HTTP_ADDR", "127.0.0.1:8080"),
		RedisCluster:    r.boolean("SECKILL_REDIS_CLUSTER", false),
		MySQLDSN:        r.dsn("SECKILL_MYSQL_DSN", "seckill:seckill@tcp(127.0.0.1:3306)/seckill?parseTime=true"),
		AdminToken:      r.str("SECKILL_ADMIN_TOKEN", ""),
		BuyerAuth:       r.oneOf("SECKILL_BUYER_AUTH", buyerAuthJWT, buyerAuthJWT, buyerAuthTrusted),
		BuyerSecret:     r.str("SECKILL_BUYER_JWT_SECRET", ""),
		BuyerPublicKey:  r.str("SECKILL_BUYER_JWT_PUBLIC_KEY", ""),
		Topic:           r.name("SECKILL_TOPIC", events.DefaultTopic),
		ConsumerGroup:   r.name("SECKILL_CONSUMER_GROUP", handlers.DefaultConsumerGroup),
		MaxPerUser:      int64(r.integer("SECKILL_MAX_PER_USER", 1, 1, 1000)),
		RatePerUser:     r.float("SECKILL_RATE_PER_USER", sale.DefaultRatePerUser),
		Throttle:        r.integer("SECKILL_CONSUMER_THROTTLE", handlers.DefaultThrottle, 0, 1_000_000),
		InFlight:        r.integer("SECKILL_CONSUMER_INFLIGHT", 64, 1, 256),
		PaymentTimeout:  r.duration("SECKILL_PAYMENT_TIMEOUT", handlers.DefaultPaymentTimeout.String()),
		RetrySchedule:   r.durations("SECKILL_RETRY_SCHEDULE", handlers.DefaultRetrySchedule),
		OutboxMinAge:    r.duration("SECKILL_OUTBOX_MIN_AGE", "3s"),
		Consumers:       r.boolean("SECKILL_CONSUMERS", true),
		ShutdownDrain:   r.duration("SECKILL_SHUTDOWN_DRAIN", "5s"),
		ShutdownTimeout: r.duration("SECKILL_SHUTDOWN_TIMEOUT", "20s"),
		LogLevel:        r.level("SECKILL_LOG_LEVEL", "info"),
		PprofAddr:       r.str("SECKILL_PPROF_ADDR", ""),
		Dev:             r.boolean("SECKILL_DEV", false),
	}
	if c.BuyerSecret != "" && len(c.BuyerSecret) < buyerauth.MinSecretSize {
		r.fail("SECKILL_BUYER_JWT_SECRET", "…", fmt.Sprintf("want at least %d bytes, got %d", buyerauth.MinSecretSize, len(c.BuyerSecret)))
	}
	if c.PprofAddr != "" {
		r.check("SECKILL_PPROF_ADDR", c.PprofAddr)
	}
	c.RedisAddrs = r.addrs("SECKILL_REDIS_ADDR", "127.0.0.1:6379")
	c.Brokers = r.addrs("SECKILL_ROCKETMQ_BROKER", "127.0.0.1:10911")
	for _, a := range strings.Split(r.str("SECKILL_ROCKETMQ_NAMESRV", "127.0.0.1:9876"), ",") {
		c.Namesrv = append(c.Namesrv, r.check("SECKILL_ROCKETMQ_NAMESRV", strings.TrimSpace(a)))
	}
	return c, r.err
}

// envReader reads variables and keeps the first error, so loadConfig reads like a list of settings.
type envReader struct {
	getenv func(string) string
	err    error
}

func (r *envReader) fail(name, value, why string) {
	if r.err == nil {
		r.err = fmt.Errorf("%s=%q: %s", name, value, why)
	}
}

func (r *envReader) str(name, def string) string {
	if v := r.getenv(name); v != "" {
		return v
	}
	return def
}

func (r *envReader) check(name, v string) string {
	host, port, err := net.SplitHostPort(v)
	if err != nil || port == "" {
		r.fail(name, v, "want host:port")
		return v
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 || strings.ContainsAny(host, " /") {
		r.fail(name, v, "want host:port with a port from 0 to 65535")
	}
	return v
}

// name reads a RocketMQ topic or group name: letters, digits, '-' and '_' only, at most 100 characters.
func (r *envReader) name(name, def string) string {
	v := r.str(name, def)
	ok := len(v) <= 100
	for _, c := range v {
		ok = ok && (c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z')
	}
	if !ok {
		r.fail(name, v, "want at most 100 letters, digits, '-' or '_'")
	}
	return v
}

func (r *envReader) oneOf(name, def string, allowed ...string) string {
	v := r.str(name, def)
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	r.fail(name, v, "want one of "+strings.Join(allowed, ", "))
	return v
}

func (r *envReader) addr(name, def string) string { return r.check(name, r.str(name, def)) }

// addrs reads a comma-separated list of host:port.
func (r *envReader) addrs(name, def string) []string {
	var out []string
	for _, a := range strings.Split(r.str(name, def), ",") {
		out = append(out, r.check(name, strings.TrimSpace(a)))
	}
	return out
}

func (r *envReader) dsn(name, def string) string {
	v := r.str(name, def)
	cfg, err := mysql.ParseDSN(v)
	switch {
	case err != nil:
		r.fail(name, v, "not a MySQL DSN (user:pass@tcp(host:port)/db?parseTime=true): "+err.Error())
	case cfg.DBName == "":
		r.fail(name, v, "the DSN names no database")
	case !cfg.ParseTime:
		r.fail(name, v, "the DSN needs parseTime=true")
	}
	return v
}

func (r *envReader) integer(name string, def, lo, hi int) int {
	v := r.getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		r.fail(name, v, fmt.Sprintf("want an integer from %d to %d", lo, hi))
	}
	return n
}

func (r *envReader) float(name string, def float64) float64 {
	v := r.getenv(name)
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 {
		r.fail(name, v, "want a non-negative number (0 turns it off)")
	}
	return f
}

func (r *envReader) duration(name, def string) time.Duration {
	v := r.str(name, def)
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		r.fail(name, v, "want a positive duration such as 500ms, 15m or 2h")
	}
	return d
}

func (r *envReader) durations(name string, def []time.Duration) []time.Duration {
	v := r.getenv(name)
	if v == "" {
		return def
	}
	var out []time.Duration
	for _, s := range strings.Split(v, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil || d <= 0 {
			r.fail(name, v, "want comma-separated positive durations such as 10s,30s,1m")
			return nil
		}
		out = append(out, d)
	}
	return out
}

func (r *envReader) boolean(name string, def bool) bool {
	v := r.getenv(name)
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.fail(name, v, "want true or false")
	}
	return b
}

func (r *envReader) level(name, def string) slog.Level {
	v := r.str(name, def)
	var l slog.Level
	if err := l.UnmarshalText([]byte(v)); err != nil {
		r.fail(name, v, "want debug, info, warn or error")
	}
	return l
}

// Buyer identity modes (SECKILL_BUYER_AUTH).
const (
	buyerAuthJWT     = "jwt"
	buyerAuthTrusted = "trusted"
)

// errNoBuyerSecret stops the commands that verify or mint buyer tokens when the secret is not set.
var errNoBuyerSecret = errors.New("SECKILL_BUYER_JWT_SECRET is not set: buyer tokens need it (or SECKILL_BUYER_AUTH=trusted behind a gateway)")

// buyerVerifier returns the verifier of buyer tokens, or nil in trusted mode.
func (c Config) buyerVerifier() (*buyerauth.Verifier, error) {
	if c.BuyerAuth == buyerAuthTrusted {
		return nil, nil
	}
	if c.BuyerSecret == "" {
		return nil, errNoBuyerSecret
	}
	bc := buyerauth.Config{Secret: []byte(c.BuyerSecret)}
	if c.BuyerPublicKey != "" {
		k, err := buyerauth.ReadPublicKey(c.BuyerPublicKey)
		if err != nil {
			return nil, fmt.Errorf("SECKILL_BUYER_JWT_PUBLIC_KEY=%q: %w", c.BuyerPublicKey, err)
		}
		bc.PublicKey = k
	}
	v, err := buyerauth.NewVerifier(bc)
	if err != nil {
		return nil, fmt.Errorf("SECKILL_BUYER_JWT_PUBLIC_KEY=%q: %w", c.BuyerPublicKey, err)
	}
	return v, nil
}

// redisOptions are the Redis client's options: a single node for one address, Redis Cluster for several or with
// SECKILL_REDIS_CLUSTER=true (schema.NewClient).
func (c Config) redisOptions() redis.UniversalOptions {
	return redis.UniversalOptions{Addrs: c.RedisAddrs, IsClusterMode: c.RedisCluster, PoolSize: 256,
		DialTimeout: time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second}
}

// redisWhere names the Redis the configuration points at, for errors.
func (c Config) redisWhere() string { return "SECKILL_REDIS_ADDR=" + strings.Join(c.RedisAddrs, ",") }

// errUsage marks a command line the binary cannot run.
var errUsage = errors.New("usage")

func getenv(name string) string { return os.Getenv(name) }
