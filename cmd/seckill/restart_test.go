package main

import (
	"bufio"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// startProcess runs the built binary with env added to this process's environment and returns it running.
func startProcess(t *testing.T, bin string, env map[string]string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { // keep the pipe drained; show the process's warnings in the test log
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if l := sc.Text(); strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
				t.Log(bin[strings.LastIndex(bin, "/")+1:], args, l)
			}
		}
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

// TestKilledConsumerProjectsAgainWithinSeconds: a separate `seckill consume` process is killed with SIGKILL in
// the middle of a backlog and started again; the new process projects again within seconds (the broker hands
// it the queues at once: the dead process's connections closed with it).
func TestKilledConsumerProjectsAgainWithinSeconds(t *testing.T) {
	bin := buildSeckill(t)
	a := startApp(t, map[string]string{"SECKILL_CONSUMERS": "false"})
	id := a.list(3000)
	if orders := a.buyers(3000, id, 1); len(orders) != 3000 {
		t.Fatalf("%d orders", len(orders))
	}
	projected := func() int64 { return a.count(`SELECT COUNT(*) FROM tb_seckill_order WHERE product_id = ?`, id) }
	env := map[string]string{}
	for k, v := range a.env {
		env[k] = v
	}
	env["SECKILL_CONSUMER_THROTTLE"] = "200" // a backlog of ~15s
	first := startProcess(t, bin, env, "consume")
	a.waitFor("the first consumer projecting", 60*time.Second, func() bool { return projected() >= 300 })
	if err := first.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	before := projected()
	if before >= 3000 {
		t.Fatal("the backlog was gone before the kill")
	}
	start := time.Now()
	startProcess(t, bin, env, "consume")
	a.waitFor("the restarted consumer projecting", 60*time.Second, func() bool { return projected() > before })
	took := time.Since(start)
	t.Logf("restarted consumer projected its first event %s after its start (%d of 3000 projected before)", took, before)
	if took > 10*time.Second {
		t.Fatalf("the restarted consumer took %s to project again, want seconds", took)
	}
	a.drained(id, 3000, 120*time.Second)
}

// appliedBy returns how many events the consume process serving metrics on addr has applied (not duplicates).
func appliedBy(addr string) float64 {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var n float64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "seckill_events_recorded_total{") && strings.Contains(l, `outcome="applied"`) {
			if v, err := strconv.ParseFloat(l[strings.LastIndex(l, " ")+1:], 64); err == nil {
				n += v
			}
		}
	}
	return n
}

// TestKilledConsumerBesideServesConsumersTakesItsShareAgain: the fault suite's shape: serve runs consumers and a
// separate `seckill consume` shares the group; the separate one is killed with SIGKILL mid-backlog and started
// again. The restarted process applies events of its own within seconds (the group is rebalanced between the two
// processes at its start).
func TestKilledConsumerBesideServesConsumersTakesItsShareAgain(t *testing.T) {
	bin := buildSeckill(t)
	a := startApp(t, map[string]string{"SECKILL_CONSUMER_THROTTLE": "150"})
	id := a.list(4000)
	if orders := a.buyers(4000, id, 1); len(orders) != 4000 {
		t.Fatalf("%d orders", len(orders))
	}
	projected := func() int64 { return a.count(`SELECT COUNT(*) FROM tb_seckill_order WHERE product_id = ?`, id) }
	env := map[string]string{}
	for k, v := range a.env {
		env[k] = v
	}
	env["SECKILL_CONSUMER_THROTTLE"] = "150"
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	env["SECKILL_HTTP_ADDR"] = addr
	first := startProcess(t, bin, env, "consume")
	a.waitFor("the separate consumer applying events", 60*time.Second, func() bool { return appliedBy(addr) >= 200 })
	if err := first.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	before := projected()
	if before >= 3000 {
		t.Fatal("the backlog was nearly gone before the kill")
	}
	start := time.Now()
	startProcess(t, bin, env, "consume")
	a.waitFor("the restarted consumer applying events", 90*time.Second, func() bool { return appliedBy(addr) > 0 })
	took := time.Since(start)
	t.Logf("restarted consumer applied its first event %s after its start (%d of 4000 projected before)", took, before)
	if took > 15*time.Second {
		t.Fatalf("the restarted consumer took %s to apply an event, want seconds", took)
	}
	a.drained(id, 4000, 180*time.Second)
}
