package sale

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkCountReservation is the cost of counting one buy attempt by outcome on the buy path.
func BenchmarkCountReservation(b *testing.B) {
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		m.reserved("reserved")
	}
}
