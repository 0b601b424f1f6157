// Package faults is the fault suite of CONTRACT.md's invariants: it runs real `seckill serve` and `seckill consume`
// processes on a private stack of Redis, MariaDB and RocketMQ (scripts/services.sh on other ports and another run
// dir), kills them or their services mid-sale, records every answer a buyer got (Load), and checks order by order
// that every acknowledged order is recorded as its buyer left it and nothing else was (Check).
//
// The package's tests are the suite (make test-faults; a short form runs inside make test). The types here are
// the parts: Stack, Proc, Load and Check.
package faults

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Service names a process of the stack that the suite kills and starts again.
type Service string

// The services Stack.Kill and Stack.Start know.
const (
	Redis  Service = "redis"
	MySQL  Service = "mysql"
	Broker Service = "broker"
)

// Stack is a private set of the real services, run by scripts/services.sh with its own ports and run dir, so
// that killing them disturbs nothing else on the machine. Its methods run the script synchronously; they are
// not meant for concurrent use.
type Stack struct {
	Root                                      string // repository root (where scripts/services.sh is)
	RunDir                                    string // SECKILL_RUN_DIR of the stack: data, logs, pid files
	RedisPort, MySQLPort, NamesrvPort, Broker int
}

// DefaultStack is the fault suite's stack: ports 16379, 13306, 19876, 20911 and run dir .run/faults under root.
// SECKILL_FAULTS_RUN_DIR overrides the run dir.
func DefaultStack(root string) Stack {
	dir := os.Getenv("SECKILL_FAULTS_RUN_DIR")
	if dir == "" {
		dir = filepath.Join(root, ".run", "faults")
	}
	return Stack{Root: root, RunDir: dir, RedisPort: 16379, MySQLPort: 13306, NamesrvPort: 19876, Broker: 20911}
}

// RedisAddr, NamesrvAddr and BrokerAddr are the stack's addresses.
func (s Stack) RedisAddr() string   { return "127.0.0.1:" + strconv.Itoa(s.RedisPort) }
func (s Stack) NamesrvAddr() string { return "127.0.0.1:" + strconv.Itoa(s.NamesrvPort) }
func (s Stack) BrokerAddr() string  { return "127.0.0.1:" + strconv.Itoa(s.Broker) }

// DSN is the stack's MariaDB DSN for database db.
func (s Stack) DSN(db string) string {
	return fmt.Sprintf("seckill:seckill@tcp(127.0.0.1:%d)/%s?parseTime=true", s.MySQLPort, db)
}

// env is the environment that points scripts/services.sh at this stack. SECKILL_CACHE_DIR (downloaded jars)
// passes through, so the stack shares the default stack's downloads.
func (s Stack) env() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SECKILL_RUN_DIR=") && !strings.HasPrefix(kv, "RMQ_STORE=") {
			out = append(out, kv)
		}
	}
	return append(out, "SECKILL_RUN_DIR="+s.RunDir,
		"SECKILL_REDIS_PORT="+strconv.Itoa(s.RedisPort), "SECKILL_MYSQL_PORT="+strconv.Itoa(s.MySQLPort),
		"SECKILL_NAMESRV_PORT="+strconv.Itoa(s.NamesrvPort), "SECKILL_BROKER_PORT="+strconv.Itoa(s.Broker))
}

// script runs scripts/services.sh verb against the stack; its output goes to the run dir's services.log.
func (s Stack) script(ctx context.Context, verb string) error {
	if s.RedisPort == 6379 || s.MySQLPort == 3306 || s.NamesrvPort == 9876 || s.Broker == 10911 {
		return fmt.Errorf("services.sh %s: refusing to drive the default stack's ports", verb)
	}
	if err := os.MkdirAll(s.RunDir, 0o755); err != nil {
		return fmt.Errorf("services.sh %s: %w", verb, err)
	}
	logf, err := os.OpenFile(filepath.Join(s.RunDir, "services.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("services.sh %s: %w", verb, err)
	}
	defer logf.Close()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(s.Root, "scripts", "services.sh"), verb)
	cmd.Env, cmd.Stdout, cmd.Stderr = s.env(), logf, logf
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("services.sh %s (after %s, see %s): %w", verb, time.Since(start).Round(time.Millisecond),
			logf.Name(), err)
	}
	return nil
}

// Up starts every service of the stack that is not already answering.
func (s Stack) Up(ctx context.Context) error { return s.script(ctx, "up") }

// Down stops every service of the stack.
func (s Stack) Down(ctx context.Context) error { return s.script(ctx, "down") }

// Kill sends SIGKILL to svc and returns once the process is gone.
func (s Stack) Kill(ctx context.Context, svc Service) error {
	return s.script(ctx, "kill-"+string(svc))
}

// Start starts svc again on its data (Redis on its AOF) and returns once it answers.
func (s Stack) Start(ctx context.Context, svc Service) error {
	return s.script(ctx, "start-"+string(svc))
}
