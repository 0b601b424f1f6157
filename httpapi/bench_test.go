package httpapi_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkBuyPath is the HTTP tier's cost of one POST /seckill/kill with token verification (jwt) and without it
// (trusted), through the real router over the real Redis and RocketMQ: "reserve" takes stock for a new buyer each
// time (one Redis script, one publish), "sold_out" is answered from memory. Both modes get the same request, token
// included. Run with a fixed count, one stack per case:
//
//	go test -run XXX -bench BuyPath -benchtime 5000x ./httpapi/
func BenchmarkBuyPath(b *testing.B) {
	for _, path := range []string{"reserve", "sold_out"} {
		for _, mode := range []string{"trusted", "jwt"} {
			b.Run(path+"/"+mode, func(b *testing.B) {
				var opts []stackOption
				if mode == "trusted" {
					opts = append(opts, trusted)
				}
				s := newStack(b, opts...)
				want, stock := http.StatusOK, int64(b.N)
				if path == "sold_out" {
					want, stock = http.StatusGone, 0
				}
				id := s.list(stock)
				bodies := make([][]byte, b.N)
				auths := make([]string, b.N)
				for i := range b.N {
					user := int64(1_000_000 + i)
					bodies[i] = fmt.Appendf(nil, `{"userId":%d,"productId":%d,"quantity":1}`, user, id)
					auths[i] = "Bearer " + token(b, user)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := range b.N {
					req := httptest.NewRequest(http.MethodPost, "/seckill/kill", bytes.NewReader(bodies[i]))
					req.Header.Set("Authorization", auths[i])
					rec := httptest.NewRecorder()
					s.handler.ServeHTTP(rec, req)
					if rec.Code != want {
						b.Fatalf("request %d: %d %s, want %d", i, rec.Code, rec.Body, want)
					}
				}
			})
		}
	}
}
