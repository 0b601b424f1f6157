package faults

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Proc is one real seckill process (`seckill serve` or `seckill consume`) started from a built binary, with its
// output appended to a log file so that a restart keeps the history. Its methods are not safe for concurrent use.
type Proc struct {
	Bin  string   // the seckill binary
	Args []string // e.g. {"serve"}
	Env  []string // SECKILL_* settings, added to the test's environment
	Log  string   // file that receives stdout and stderr
	cmd  *exec.Cmd
	done chan error
}

// Start starts the process; it does not wait for it to be ready (see WaitReady).
func (p *Proc) Start() error {
	if p.cmd != nil {
		return fmt.Errorf("seckill %v: already running", p.Args)
	}
	logf, err := os.OpenFile(p.Log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("seckill %v: %w", p.Args, err)
	}
	fmt.Fprintf(logf, "---- %s start seckill %v\n", time.Now().Format(time.RFC3339Nano), p.Args)
	cmd := exec.Command(p.Bin, p.Args...)
	cmd.Env = append(os.Environ(), p.Env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return fmt.Errorf("seckill %v: %w", p.Args, err)
	}
	p.cmd, p.done = cmd, make(chan error, 1)
	go func() {
		err := cmd.Wait()
		_ = logf.Close()
		p.done <- err
	}()
	return nil
}

// WaitReady polls url (a /readyz) until it answers 200, the process exits, or timeout passes.
func (p *Proc) WaitReady(ctx context.Context, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	for {
		select {
		case err := <-p.done:
			p.done <- err
			return fmt.Errorf("seckill %v exited while starting (%v); see %s", p.Args, err, p.Log)
		default:
		}
		if resp, err := client.Get(url); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("seckill %v: %s not ready within %s; see %s", p.Args, url, timeout, p.Log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Exited returns the process's exit error (or a note that it exited cleanly) if it is no longer running, nil
// while it runs.
func (p *Proc) Exited() error {
	if p.cmd == nil {
		return fmt.Errorf("seckill %v is not running", p.Args)
	}
	select {
	case err := <-p.done:
		p.done <- err
		return fmt.Errorf("seckill %v exited (%v); see %s", p.Args, err, p.Log)
	default:
		return nil
	}
}

// Kill sends SIGKILL and waits for the process to be gone.
func (p *Proc) Kill() error {
	_, err := p.signal(syscall.SIGKILL, 10*time.Second)
	return err
}

// Terminate sends SIGTERM and waits up to timeout for a graceful exit; it returns how long the exit took and
// an error if the process did not exit or exited with a failure.
func (p *Proc) Terminate(timeout time.Duration) (time.Duration, error) {
	return p.signal(syscall.SIGTERM, timeout)
}

func (p *Proc) signal(sig syscall.Signal, timeout time.Duration) (time.Duration, error) {
	if p.cmd == nil {
		return 0, nil
	}
	start := time.Now()
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return 0, fmt.Errorf("seckill %v: %v: %w", p.Args, sig, err)
	}
	select {
	case err := <-p.done:
		p.cmd = nil
		if sig == syscall.SIGTERM && err != nil {
			return time.Since(start), fmt.Errorf("seckill %v after SIGTERM: %v; see %s", p.Args, err, p.Log)
		}
		return time.Since(start), nil
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		p.cmd = nil
		return time.Since(start), fmt.Errorf("seckill %v did not exit within %s of %v; killed", p.Args, timeout, sig)
	}
}

// Stop ends the process if it runs (SIGTERM, then SIGKILL after 30 s), for test cleanup.
func (p *Proc) Stop() {
	_, _ = p.signal(syscall.SIGTERM, 30*time.Second)
}
