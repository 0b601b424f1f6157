package httpapi

import (
	"encoding/json"
	"io"
	"net/http"
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

// TestEnvelopeIsWhatEncodingJSONWrites checks the pooled envelope byte for byte against encoding/json's Encoder
// of the same struct, for messages and data that need escaping, one after another through the same pool.
func TestEnvelopeIsWhatEncodingJSONWrites(t *testing.T) {
	type reservation struct {
		OrderNo        string `json:"orderNo"`
		RemainingStock int64  `json:"remainingStock"`
	}
	cases := []struct {
		status int
		msg    string
		data   any
	}{
		{200, "ok", &reservation{OrderNo: "SK1-42", RemainingStock: 7}},
		{410, "sold out", nil},
		{400, `quantity: "<b>" & more`, nil},
		{400, "line\nbreak\ttab \u2028 \u2029 \x01 \\ 秒杀", map[string]string{"a<": "b>&"}},
		{400, "invalid utf-8: \xff\xfe", []int{1, 2, 3}},
		{200, "ok", map[string]any{"nested": []any{nil, true, 1.5, "x"}, "empty": map[string]int{}}},
		{503, strings.Repeat("long message ", 500), nil},
	}
	for _, c := range cases {
		var want strings.Builder
		if err := json.NewEncoder(&want).Encode(struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Data    any    `json:"data"`
		}{c.status, c.msg, c.data}); err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		writeJSON(rec, c.status, c.msg, c.data)
		if rec.Code != c.status || rec.Body.String() != want.String() {
			t.Errorf("%d %q: wrote %d %q, want %d %q", c.status, c.msg, rec.Code, rec.Body, c.status, want.String())
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
			t.Errorf("Content-Type %q", ct)
		}
	}
}

// TestAnAnswerThatCannotBeEncodedIs500 makes sure a bug in an answer's data never sends half an envelope.
func TestAnAnswerThatCannotBeEncodedIs500(t *testing.T) {
	rec := httptest.NewRecorder()
	writeJSON(rec, http.StatusOK, "ok", map[string]any{"f": func() {}})
	want := `{"code":500,"message":"internal error: answer cannot be encoded","data":null}` + "\n"
	if rec.Code != http.StatusInternalServerError || rec.Body.String() != want {
		t.Errorf("wrote %d %q, want 500 %q", rec.Code, rec.Body, want)
	}
}

// FuzzFlatBodiesDecodeLikeEncodingJSON checks the reflection-free reading of the usual body: whenever flatIntegers
// accepts a body, encoding/json accepts it too, with the same fields and the same raw values.
//
//	go test -run XXX -fuzz FlatBodies -fuzztime 30s ./httpapi/
func FuzzFlatBodiesDecodeLikeEncodingJSON(f *testing.F) {
	for _, b := range []string{
		`{"userId":10000001,"productId":1234567,"quantity":1}`,
		`{"productId":1,"quantity":1}`, ` { "quantity" : -0 , "productId":0 } `, `{}`, "{\n\t\"userId\":7\r}",
		`{"quantity":1,"quantity":2}`, `{"quantity":01}`, `{"quantity":1.5}`, `{"quantity":1e3}`, `{"quantity":"1"}`,
		`{"quantity":1,}`, `{"quantity":1}x`, `{"quantity":1}{}`, `{"qu\u0061ntity":1}`, `{"other":1}`, `[1]`, `{`,
		`{"quantity":-}`, `{"quantity":1 2}`, `{"quantity":1}  `, `{"userId":null}`, `{"quantity":18446744073709551616}`,
	} {
		f.Add([]byte(b))
	}
	allowed := []string{"userId", "productId", "quantity"}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, ok := flatIntegers(body, allowed)
		if !ok {
			return
		}
		var want map[string]json.RawMessage
		if err := json.Unmarshal(body, &want); err != nil || want == nil {
			t.Fatalf("%q: flatIntegers accepted %v, encoding/json refused: %v", body, got, err)
		}
		if len(got) != len(want) {
			t.Fatalf("%q: %d fields, encoding/json %d", body, len(got), len(want))
		}
		for k, v := range want {
			if string(got[k]) != string(v) {
				t.Fatalf("%q: %s = %q, encoding/json %q", body, k, got[k], v)
			}
		}
	})
}
