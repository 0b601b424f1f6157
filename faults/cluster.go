package faults

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ClusterStack is the cluster stack of scripts/cluster.sh (docs/scaling.md): a Redis Cluster of three masters
// with one replica each (ports 17001-17006), a RocketMQ NameServer (29876) with two brokers in one cluster
// (broker-a 30911, broker-b 31911) and the shared MariaDB. Its methods run the script synchronously; they are not
// meant for concurrent use.
type ClusterStack struct {
	Root   string // repository root (where scripts/cluster.sh is)
	RunDir string // SECKILL_CLUSTER_RUN_DIR: data, logs, pid files
}

// DefaultClusterStack is the stack of `make services-cluster`: run dir .run/cluster under root, or
// SECKILL_CLUSTER_RUN_DIR.
func DefaultClusterStack(root string) ClusterStack {
	dir := os.Getenv("SECKILL_CLUSTER_RUN_DIR")
	if dir == "" {
		dir = filepath.Join(root, ".run", "cluster")
	}
	return ClusterStack{Root: root, RunDir: dir}
}

// RedisMasters are the ports of the Redis nodes the script makes masters (a failover may promote a replica).
var RedisMasters = []int{17001, 17002, 17003}

func (s ClusterStack) script(ctx context.Context, args ...string) ([]byte, error) {
	if err := os.MkdirAll(s.RunDir, 0o755); err != nil {
		return nil, fmt.Errorf("cluster.sh %v: %w", args, err)
	}
	logf, err := os.OpenFile(filepath.Join(s.RunDir, "cluster.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cluster.sh %v: %w", args, err)
	}
	defer logf.Close()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "bash", append([]string{filepath.Join(s.Root, "scripts", "cluster.sh")}, args...)...)
	cmd.Env = append(os.Environ(), "SECKILL_CLUSTER_RUN_DIR="+s.RunDir)
	cmd.Stdout, cmd.Stderr = &out, logf
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("cluster.sh %v (after %s, see %s): %w", args, time.Since(start).Round(time.Millisecond),
			logf.Name(), err)
	}
	return out.Bytes(), nil
}

// Up starts every service of the stack that is not already answering and returns the SECKILL_* settings that
// point seckill at it.
func (s ClusterStack) Up(ctx context.Context) (map[string]string, error) {
	out, err := s.script(ctx, "up")
	if err != nil {
		return nil, err
	}
	env := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && strings.HasPrefix(k, "SECKILL_") {
			env[k] = v
		}
	}
	return env, nil
}

// Down stops every service of the stack (the shared MariaDB is left alone unless the script started it).
func (s ClusterStack) Down(ctx context.Context) error {
	_, err := s.script(ctx, "down")
	return err
}

// Running reports whether the stack's Redis Cluster answers (the script was run before and not stopped).
func (s ClusterStack) Running(ctx context.Context) bool {
	out, err := s.script(ctx, "status")
	return err == nil && bytes.Contains(out, []byte("cluster   state ok"))
}

// KillRedis sends SIGKILL to the Redis node on port and returns once it is gone.
func (s ClusterStack) KillRedis(ctx context.Context, port int) error {
	_, err := s.script(ctx, "kill-redis", strconv.Itoa(port))
	return err
}

// StartRedis starts the Redis node on port again on its data and returns once the cluster's state is ok.
func (s ClusterStack) StartRedis(ctx context.Context, port int) error {
	_, err := s.script(ctx, "start-redis", strconv.Itoa(port))
	return err
}
