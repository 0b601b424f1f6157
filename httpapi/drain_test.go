package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// TestDrainTurnsReadinessOffAndKeepsServing: once draining, /readyz answers 503 while buy requests are still
// answered, each with "Connection: close" so that clients stop reusing connections before the listener closes.
func TestDrainTurnsReadinessOffAndKeepsServing(t *testing.T) {
	s := newStack(t)
	id := s.list(10)
	s.srv.Drain()
	if r := s.do("GET", "/readyz", ""); r.Status != http.StatusServiceUnavailable || !strings.Contains(r.Message, "shutting down") {
		t.Fatalf("readyz while draining: %d %q, want 503 shutting down", r.Status, r.Message)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/seckill/kill",
		strings.NewReader(`{"userId":1,"productId":`+strconv.FormatInt(id, 10)+`,"quantity":1}`))
	req.Header.Set("Authorization", "Bearer "+token(t, 1))
	s.handler.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || rec.Header().Get("Connection") != "close" {
		t.Fatalf("kill while draining: %d, Connection %q; want 200 with Connection: close", rec.Code, rec.Header().Get("Connection"))
	}
}
