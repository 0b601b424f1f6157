package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/rocketmqpubsub"
	"github.com/seckill/seckill/schema"
)

// startTimeout bounds each dependency's first answer at start.
const startTimeout = 5 * time.Second

func newLogger(cfg Config, w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: cfg.LogLevel}))
}

// redisLoadTimeout bounds the wait for a Redis that answers LOADING at start (it is reading its AOF after a
// restart; docs/restarts.md has the time a big one takes).
const redisLoadTimeout = 5 * time.Minute

// openRedis connects to Redis, waits while it is still loading its dataset, and loads the scripts; the error
// names SECKILL_REDIS_ADDR. The client never retries a command by itself (schema.NewClient); it is a Redis
// Cluster client when SECKILL_REDIS_ADDR lists several addresses or SECKILL_REDIS_CLUSTER is true.
func openRedis(ctx context.Context, cfg Config) (redis.UniversalClient, error) {
	rdb := schema.NewClient(cfg.redisOptions())
	lctx, lcancel := context.WithTimeout(ctx, redisLoadTimeout)
	defer lcancel()
	if err := schema.WaitLoaded(lctx, rdb, 200*time.Millisecond); err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("%s: redis does not answer: %w", cfg.redisWhere(), err)
	}
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	if err := schema.LoadScripts(ctx, rdb); err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("%s: %w", cfg.redisWhere(), err)
	}
	return rdb, nil
}

// openMySQL connects to MySQL and applies the migrations; the error names SECKILL_MYSQL_DSN without its password.
func openMySQL(ctx context.Context, cfg Config) (*sql.DB, error) {
	dsnCfg, _ := mysql.ParseDSN(cfg.MySQLDSN)
	where := fmt.Sprintf("SECKILL_MYSQL_DSN (%s@%s/%s)", dsnCfg.User, dsnCfg.Addr, dsnCfg.DBName)
	db, err := sql.Open("mysql", cfg.MySQLDSN)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	db.SetMaxOpenConns(64)
	db.SetMaxIdleConns(64)
	db.SetConnMaxLifetime(30 * time.Minute)
	pctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("%s: mysql does not answer: %w", where, err)
	}
	if err := schema.Migrate(ctx, db); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return db, nil
}

// ensureTopic creates topic (4 queues on each broker of SECKILL_ROCKETMQ_BROKER) where missing; the error names
// SECKILL_ROCKETMQ_NAMESRV.
func ensureTopic(ctx context.Context, cfg Config, topic string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*startTimeout)
	defer cancel()
	if err := rocketmqpubsub.EnsureTopicOn(ctx, cfg.Namesrv, cfg.Brokers, topic, 4); err != nil {
		return fmt.Errorf("SECKILL_ROCKETMQ_NAMESRV=%v: rocketmq does not answer: %w", cfg.Namesrv, err)
	}
	return nil
}

func newPublisher(cfg Config, logger watermill.LoggerAdapter) (*rocketmqpubsub.Publisher, error) {
	pub, err := rocketmqpubsub.NewPublisher(rocketmqpubsub.PublisherConfig{NameServers: cfg.Namesrv}, logger)
	if err != nil {
		return nil, fmt.Errorf("SECKILL_ROCKETMQ_NAMESRV=%v: %w", cfg.Namesrv, err)
	}
	return pub, nil
}

func migrate(ctx context.Context, cfg Config, stdout io.Writer) error {
	db, err := openMySQL(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	fmt.Fprintln(stdout, "schema up to date")
	return nil
}

// stack is what serve and consume connect to at start: Redis (scripts loaded), MySQL (migrated), the event topic
// and a publisher.
type stack struct {
	rdb redis.UniversalClient
	db  *sql.DB
	pub *rocketmqpubsub.Publisher
}

// connect opens the stack; each failure names its variable, and what was opened before it is closed again.
func connect(ctx context.Context, cfg Config, logger watermill.LoggerAdapter) (*stack, error) {
	s := &stack{}
	var err error
	if s.rdb, err = openRedis(ctx, cfg); err != nil {
		return nil, err
	}
	if s.db, err = openMySQL(ctx, cfg); err != nil {
		s.Close()
		return nil, err
	}
	if err = ensureTopic(ctx, cfg, cfg.Topic); err != nil {
		s.Close()
		return nil, err
	}
	if s.pub, err = newPublisher(cfg, logger); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close closes what connect opened, publisher first.
func (s *stack) Close() {
	if s.pub != nil {
		_ = s.pub.Close()
	}
	if s.db != nil {
		_ = s.db.Close()
	}
	_ = s.rdb.Close()
}
