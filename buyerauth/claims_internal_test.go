package buyerauth

import (
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzClaimsDecodeLikeEncodingJSON: whatever the bytes, claims.UnmarshalJSON gives what encoding/json gives for
// them (the same claims, or an error when it refuses them), and the direct reader only ever accepts input that
// encoding/json accepts with the same result.
//
//	go test -run XXX -fuzz FuzzClaimsDecodeLikeEncodingJSON -fuzztime 30s ./buyerauth/
func FuzzClaimsDecodeLikeEncodingJSON(f *testing.F) {
	for _, s := range []string{
		`{"sub":"1002","iat":1764100000,"exp":1764103600}`,
		`{"exp":1764103600,"iat":1764100000,"sub":"1002"}`,
		` { "sub" : "1" , "nbf" : 0 } `,
		`{"sub":"1","exp":1.5}`, `{"sub":"1","exp":1e9}`, `{"sub":"1","exp":-1}`, `{"sub":"1","exp":01}`,
		`{"sub":1}`, `{"SUB":"7"}`, `{"sub":"7","sub":"8"}`, `{"sub":"a\"b"}`, `{"sub":"\u0031"}`, `{"sub":"é"}`,
		`{"sub":"1","exp":null}`, `{"sub":"1","aud":["a"]}`, `{}`, `null`, `[]`, `{"sub":"1"}x`, `{"sub":"1",}`,
		`{"sub":"1","exp":1234567890123456}`, `{"sub":"1","exp":999999999999999}`, "{\"sub\":\"1\"\t}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var want plainClaims
		wantErr := json.Unmarshal(b, &want)
		var direct claims
		if fastClaims(b, &direct) && (wantErr != nil || !reflect.DeepEqual(claims(want), direct)) {
			t.Fatalf("%q: direct read %+v, encoding/json %+v (%v)", b, direct, want, wantErr)
		}
		var got claims
		err := json.Unmarshal(b, &got)
		if (err != nil) != (wantErr != nil) || (err == nil && !reflect.DeepEqual(claims(want), got)) {
			t.Fatalf("%q: UnmarshalJSON %+v (%v), encoding/json %+v (%v)", b, got, err, want, wantErr)
		}
	})
}

// BenchmarkDecodeClaims is the cost of decoding a buyer token's claims.
func BenchmarkDecodeClaims(b *testing.B) {
	raw := []byte(`{"sub":"10000001","iat":1764100000,"exp":1764103600}`)
	b.ReportAllocs()
	for b.Loop() {
		var c claims
		if err := c.UnmarshalJSON(raw); err != nil {
			b.Fatal(err)
		}
	}
}
