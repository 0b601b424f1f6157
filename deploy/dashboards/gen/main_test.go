package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/seckill/seckill/deploy/dashboards"
)

// TestGenWritesTheDashboard builds and runs the command as go generate does: it writes dashboards.JSON() to the
// named file, and without a file it exits 2 with its usage.
func TestGenWritesTheDashboard(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "gen")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	file := filepath.Join(dir, "seckill.json")
	if out, err := exec.Command(bin, file).CombinedOutput(); err != nil {
		t.Fatalf("gen %s: %v\n%s", file, err, out)
	}
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	want, err := dashboards.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("gen wrote %d bytes, not the %d of dashboards.JSON()", len(got), len(want))
	}
	out, err := exec.Command(bin).CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 || !bytes.Contains(out, []byte("usage: gen FILE.json")) {
		t.Fatalf("gen without a file: %v %q, want exit 2 and the usage", err, out)
	}
}
