package httpapi

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkDecodeKillBody is the cost of reading and checking a buy request's body.
func BenchmarkDecodeKillBody(b *testing.B) {
	const body = `{"userId":10000001,"productId":1234567,"quantity":1}`
	r := httptest.NewRequest("POST", "/seckill/kill", nil)
	b.ReportAllocs()
	for b.Loop() {
		r.Body = io.NopCloser(strings.NewReader(body))
		if _, err := decodeObject(r, "userId", "productId", "quantity"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCountRequest is the cost of the buy path's request counter: one request by route and code (the
// reservation by outcome is sale's BenchmarkCountReservation).
func BenchmarkCountRequest(b *testing.B) {
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	codes := &codeCounters{route: "kill", vec: m.requests}
	b.ReportAllocs()
	for b.Loop() {
		codes.inc(200)
	}
}
