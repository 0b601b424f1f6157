package main

import (
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBareServerAnswersTheKillShape builds and runs the binary as `make bench` does: every request, whatever its
// path and body, gets 200 and the JSON of a successful POST /seckill/kill.
func TestBareServerAnswersTheKillShape(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "bareserver")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	cmd := exec.Command(bin, "-addr", addr)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	var resp *http.Response
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err = http.Post("http://"+addr+"/seckill/kill", "application/json", strings.NewReader(`{"productId":1,"quantity":1}`))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bareserver does not answer: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(got) != string(body) ||
		resp.Header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("answer %d %q %q, want 200 with the kill body", resp.StatusCode, resp.Header.Get("Content-Type"), got)
	}
}
