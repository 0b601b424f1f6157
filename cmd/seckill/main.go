// Command seckill is the flash-sale backend: `seckill serve` answers the HTTP API and runs the projection
// consumers, `seckill consume` runs the consumers alone, `seckill replay` rebuilds the tables from tb_event,
// `seckill bench` drives a sale against a running server, `seckill dlq` lists and re-drives parked events,
// `seckill migrate` applies the MySQL schema, `seckill token` prints a buyer token. Configuration comes from
// SECKILL_* environment variables.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
)

const usage = `usage: seckill <command> [flags]

commands:
  serve     HTTP API, outbox relay and (unless SECKILL_CONSUMERS=false) the projection consumers
  consume   the projection consumers alone, for deployments that split the HTTP tier from them
  migrate   apply the MySQL schema and exit
  replay    rebuild the projection tables from tb_event (see seckill replay -h)
  bench     drive a flash sale against a running server (see seckill bench -h)
  dlq       list or re-drive events parked in the dead-letter queue (seckill dlq list|redrive)
  token     print a buyer token: seckill token -user N [-ttl 1h] (signed with SECKILL_BUYER_JWT_SECRET)

configuration: SECKILL_HTTP_ADDR, SECKILL_REDIS_ADDR, SECKILL_MYSQL_DSN, SECKILL_ROCKETMQ_NAMESRV,
SECKILL_ADMIN_TOKEN, SECKILL_BUYER_AUTH, SECKILL_BUYER_JWT_SECRET and more; see README.md.
`

func main() {
	if len(os.Args) > 1 && (os.Args[1] == "serve" || os.Args[1] == "consume") {
		runtimeDefaults(getenv)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if errors.Is(err, errUsage) {
			fmt.Fprint(os.Stderr, usage)
			os.Exit(2)
		}
		fmt.Fprintf(os.Stderr, "seckill: %v\n", err)
		os.Exit(1)
	}
}

// Garbage collector defaults of the long-running commands, where the environment sets no GOGC or GOMEMLIMIT.
// serve's live heap is 20–30 MB under a sale (pulled messages, the token cache, connections); Go's default GOGC=100
// collects every 20–30 MB allocated, a tenth of serve's CPU at 10,000 reservations/s. GOGC=400 collects a quarter
// as often, and the soft limit keeps the process near 110 MiB (the budget is 150 MB of RSS): past it the
// collector runs as often as it must, up to half the CPU, instead of growing the heap.
const (
	defaultGOGC       = 400
	defaultGOMEMLIMIT = 110 << 20
)

// runtimeDefaults applies defaultGOGC and defaultGOMEMLIMIT unless the environment sets GOGC or GOMEMLIMIT, which
// the runtime has then read itself, and turns the heap profile's sampling off unless SECKILL_PPROF_ADDR serves it
// (the only reader; its stack walks were 2 % of serve's CPU in the reservation phase). It changes process-wide
// settings before anything allocates, so only main calls it.
func runtimeDefaults(getenv func(string) string) {
	if getenv("SECKILL_PPROF_ADDR") == "" {
		runtime.MemProfileRate = 0
	}
	if getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGOGC)
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultGOMEMLIMIT)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errUsage
	}
	cmd, args := args[0], args[1:]
	if cmd == "help" || cmd == "-h" || cmd == "--help" {
		fmt.Fprint(stdout, usage)
		return nil
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	switch cmd {
	case "serve":
		return serve(ctx, cfg, args, stdout, stderr)
	case "consume":
		return consume(ctx, cfg, stderr)
	case "migrate":
		return migrate(ctx, cfg, stdout)
	case "bench":
		return bench(ctx, cfg, args, stdout, stderr)
	case "replay":
		return replayCommand(ctx, cfg, args, stdout, stderr)
	case "dlq":
		return dlqCommand(ctx, cfg, args, stdout, stderr)
	case "token":
		return token(cfg, args, stdout, stderr)
	}
	return fmt.Errorf("unknown command %q: %w", cmd, errUsage)
}
