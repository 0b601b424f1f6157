package buyerauth_test

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/seckill/seckill/buyerauth"
)

var (
	secret = []byte("test-buyer-secret-of-at-least-32-bytes")
	now    = time.Date(2026, 11, 23, 20, 0, 0, 0, time.UTC)
)

func verifier(t testing.TB, cfg buyerauth.Config) *buyerauth.Verifier {
	t.Helper()
	if cfg.Secret == nil {
		cfg.Secret = secret
	}
	cfg.Now = func() time.Time { return now }
	v, err := buyerauth.NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func sign(t testing.TB, m jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// claims are valid claims of buyer 1002, changed by the given pairs (a nil value deletes the claim).
func claims(kv ...any) jwt.MapClaims {
	c := jwt.MapClaims{"sub": "1002", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(c, kv[i].(string))
			continue
		}
		c[kv[i].(string)] = kv[i+1]
	}
	return c
}

// forged builds a token by hand: any header, signed with HMAC-SHA256 over the secret whatever alg it claims (the
// key-confusion attack on verifiers that let the token choose the algorithm).
func forged(header string, c jwt.MapClaims) string {
	enc := base64.RawURLEncoding
	body, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SigningString()
	_, payload, _ := strings.Cut(body, ".")
	unsigned := enc.EncodeToString([]byte(header)) + "." + payload
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(unsigned))
	return unsigned + "." + enc.EncodeToString(mac.Sum(nil))
}

func TestVerifyTakesTheBuyerFromAValidToken(t *testing.T) {
	v := verifier(t, buyerauth.Config{})
	tok, err := buyerauth.Mint(secret, 1002, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	for name, header := range map[string]string{"Bearer": "Bearer " + tok, "lower case scheme": "bearer " + tok} {
		if id, err := v.Buyer(header); err != nil || id != 1002 {
			t.Errorf("%s: buyer %d, %v; want 1002", name, id, err)
		}
	}
	within := map[string]jwt.MapClaims{
		"expired within the leeway":      claims("exp", now.Add(-10*time.Second).Unix()),
		"nbf within the leeway":          claims("nbf", now.Add(10*time.Second).Unix()),
		"iat within the leeway":          claims("iat", now.Add(10*time.Second).Unix()),
		"no iat":                         claims("iat", nil),
		"largest user id":                claims("sub", "9223372036854775807"),
		"unknown claims are ignored":     claims("role", "admin"),
		"audience and issuer are unused": claims("aud", "shop", "iss", "idp"),
	}
	for name, c := range within {
		t.Run(name, func(t *testing.T) {
			if _, err := v.Verify(sign(t, jwt.SigningMethodHS256, secret, c)); err != nil {
				t.Fatalf("refused: %v", err)
			}
		})
	}
}

func TestVerifyRefusesEveryBadToken(t *testing.T) {
	v := verifier(t, buyerauth.Config{})
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	valid := sign(t, jwt.SigningMethodHS256, secret, claims())
	head, rest, _ := strings.Cut(valid, ".")
	payload, sig, _ := strings.Cut(rest, ".")
	cases := map[string]struct {
		header string
		want   error
	}{
		"no header":                   {"", buyerauth.ErrNoToken},
		"wrong scheme":                {"Basic " + valid, buyerauth.ErrNoToken},
		"token without scheme":        {valid, buyerauth.ErrNoToken},
		"empty token":                 {"Bearer ", buyerauth.ErrInvalidToken},
		"scheme only":                 {"Bearer", buyerauth.ErrInvalidToken},
		"malformed base64":            {"Bearer " + head + ".!!not-base64!!." + sig, buyerauth.ErrInvalidToken},
		"two parts":                   {"Bearer " + head + "." + payload, buyerauth.ErrInvalidToken},
		"not a jwt":                   {"Bearer dev-admin-token", buyerauth.ErrInvalidToken},
		"wrong signature":             {"Bearer " + sign(t, jwt.SigningMethodHS256, []byte("another-secret-of-at-least-32-bytes!"), claims()), buyerauth.ErrInvalidToken},
		"payload changed":             {"Bearer " + head + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"1","exp":9999999999}`)) + "." + sig, buyerauth.ErrInvalidToken},
		"alg none":                    {"Bearer " + sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims()), buyerauth.ErrInvalidToken},
		"alg none, hand made":         {"Bearer " + strings.TrimSuffix(forged(`{"alg":"none","typ":"JWT"}`, claims()), sig), buyerauth.ErrInvalidToken},
		"alg HS512 with the secret":   {"Bearer " + sign(t, jwt.SigningMethodHS512, secret, claims()), buyerauth.ErrInvalidToken},
		"alg RS256 with the secret":   {"Bearer " + forged(`{"alg":"RS256","typ":"JWT"}`, claims()), buyerauth.ErrInvalidToken},
		"alg RS256, own key":          {"Bearer " + sign(t, jwt.SigningMethodRS256, rsaKey, claims()), buyerauth.ErrInvalidToken},
		"alg EdDSA, no key set":       {"Bearer " + sign(t, jwt.SigningMethodEdDSA, edKey, claims()), buyerauth.ErrInvalidToken},
		"expired":                     {"Bearer " + sign(t, jwt.SigningMethodHS256, secret, claims("exp", now.Add(-time.Hour).Unix())), buyerauth.ErrExpired},
		"no exp":                      {"Bearer " + sign(t, jwt.SigningMethodHS256, secret, claims("exp", nil)), buyerauth.ErrInvalidToken},
		"exp not a number":            {"Bearer " + sign(t, jwt.SigningMethodHS256, secret, claims("exp", "tomorrow")), buyerauth.ErrInvalidToken},
		"not yet valid":               {"Bearer " + sign(t, jwt.SigningMethodHS256, secret, claims("nbf", now.Add(time.Hour).Unix())), buyerauth.ErrNotYetValid},
		"issued in the future":        {"Bearer " + sign(t, jwt.SigningMethodHS256, secret, claims("iat", now.Add(time.Hour).Unix())), buyerauth.ErrNotYetValid},
		"sub missing":                 {"Bearer " + sign(t, jwt.SigningMethodHS256, secret, claims("sub", nil)), buyerauth.ErrBadSubject},
		"sub not an integer":          {"Bearer " + sign(t, jwt.SigningMethodHS256, secret, claims("sub", "alice")), buyerauth.ErrBadSubject},
		"sub fractional":              {"Bearer " + sign(t, jwt.SigningMethodHS256, secret, claims("sub", "1.5")), buyerauth.ErrBadSubject},
		"sub zero":                    {"Bearer " + sign(t, jwt.SigningMethodHS256, secret, claims("sub", "0")), buyerauth.ErrBadSubject},
		"sub negative":                {"Bearer " + sign(t, jwt.SigningMethodHS256, secret, claims("sub", "-5")), buyerauth.ErrBadSubject},
		"sub with a plus sign":        {"Bearer " + sign(t, jwt.SigningMethodHS256, secret, claims("sub", "+5")), buyerauth.ErrBadSubject},
		"sub with a leading zero":     {"Bearer " + sign(t, jwt.SigningMethodHS256, secret, claims("sub", "01002")), buyerauth.ErrBadSubject},
		"sub overflows int64":         {"Bearer " + sign(t, jwt.SigningMethodHS256, secret, claims("sub", "9223372036854775808")), buyerauth.ErrBadSubject},
		"sub a JSON number":           {"Bearer " + sign(t, jwt.SigningMethodHS256, secret, claims("sub", 1002)), buyerauth.ErrInvalidToken},
		"token over 4 KiB":            {"Bearer " + sign(t, jwt.SigningMethodHS256, secret, claims("pad", strings.Repeat("x", 4<<10))), buyerauth.ErrTokenTooLarge},
		"garbage over 4 KiB":          {"Bearer " + strings.Repeat("A", buyerauth.MaxTokenSize+1), buyerauth.ErrTokenTooLarge},
		"header claims kid and a jku": {"Bearer " + forged(`{"alg":"HS512","jku":"http://evil/keys","kid":"x"}`, claims()), buyerauth.ErrInvalidToken},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			id, err := v.Buyer(c.header)
			if !errors.Is(err, c.want) || id != 0 {
				t.Fatalf("buyer %d, error %v; want %v", id, err, c.want)
			}
		})
	}
}

func TestExternalIdentityProviderKeys(t *testing.T) {
	edPub, edKey, _ := ed25519.GenerateKey(rand.Reader)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		pub  any
		m    jwt.SigningMethod
		key  any
		pemT string
	}{
		"EdDSA": {edPub, jwt.SigningMethodEdDSA, edKey, "PUBLIC KEY"},
		"RS256": {&rsaKey.PublicKey, jwt.SigningMethodRS256, rsaKey, "PUBLIC KEY"},
	} {
		t.Run(name, func(t *testing.T) {
			der, err := x509.MarshalPKIXPublicKey(c.pub)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "idp.pem")
			if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: c.pemT, Bytes: der}), 0o600); err != nil {
				t.Fatal(err)
			}
			pub, err := buyerauth.ReadPublicKey(path)
			if err != nil {
				t.Fatal(err)
			}
			v := verifier(t, buyerauth.Config{PublicKey: pub})
			if id, err := v.Verify(sign(t, c.m, c.key, claims())); err != nil || id != 1002 {
				t.Fatalf("identity provider's token: buyer %d, %v", id, err)
			}
			if id, err := v.Verify(sign(t, jwt.SigningMethodHS256, secret, claims("sub", "7"))); err != nil || id != 7 {
				t.Fatalf("HS256 token beside it: buyer %d, %v", id, err)
			}
			if _, err := v.Verify(sign(t, c.m, c.key, claims("exp", nil))); !errors.Is(err, buyerauth.ErrInvalidToken) {
				t.Fatalf("identity provider's token without exp: %v", err)
			}
			if _, err := v.Verify(forged(`{"alg":"`+c.m.Alg()+`"}`, claims())); !errors.Is(err, buyerauth.ErrInvalidToken) {
				t.Fatalf("%s header signed with the HS256 secret: %v", c.m.Alg(), err)
			}
			if _, err := v.Verify(sign(t, jwt.SigningMethodHS384, secret, claims())); !errors.Is(err, buyerauth.ErrInvalidToken) {
				t.Fatalf("HS384: %v", err)
			}
		})
	}
}

func TestSecretsAndMintingAreChecked(t *testing.T) {
	if _, err := buyerauth.NewVerifier(buyerauth.Config{Secret: []byte("short")}); err == nil {
		t.Error("a 5-byte secret was accepted")
	}
	if _, err := buyerauth.Mint([]byte("short"), 1, time.Hour, now); err == nil {
		t.Error("minted with a 5-byte secret")
	}
	for name, c := range map[string]struct {
		user int64
		ttl  time.Duration
	}{"user 0": {0, time.Hour}, "negative user": {-1, time.Hour}, "ttl 0": {1, 0}} {
		if _, err := buyerauth.Mint(secret, c.user, c.ttl, now); err == nil {
			t.Errorf("%s: minted", name)
		}
	}
	tok, _ := buyerauth.Mint(secret, 5, time.Minute, now)
	later := verifier(t, buyerauth.Config{})
	if id, err := later.Verify(tok); err != nil || id != 5 {
		t.Fatalf("fresh token: %d %v", id, err)
	}
	v, err := buyerauth.NewVerifier(buyerauth.Config{Secret: secret, Now: func() time.Time { return now.Add(2 * time.Minute) }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(tok); !errors.Is(err, buyerauth.ErrExpired) {
		t.Fatalf("a 1-minute token 2 minutes later: %v, want expired", err)
	}
}

// TestBothParsePathsAgree: a token with the usual HS256 header (checked without decoding the header) and the
// same claims under another spelling of that header (checked by jwt.Parser in full) get the same answer, for
// valid claims and for every kind of refusal the claims can earn.
func TestBothParsePathsAgree(t *testing.T) {
	v := verifier(t, buyerauth.Config{CacheSize: -1})
	cases := map[string]jwt.MapClaims{
		"valid":           claims(),
		"expired":         claims("exp", now.Add(-time.Hour).Unix()),
		"no exp":          claims("exp", nil),
		"not yet valid":   claims("nbf", now.Add(time.Hour).Unix()),
		"issued later":    claims("iat", now.Add(time.Hour).Unix()),
		"sub not integer": claims("sub", "abc"),
		"sub missing":     claims("sub", nil),
		"exp not number":  claims("exp", "tomorrow"),
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			usual := sign(t, jwt.SigningMethodHS256, secret, c)
			if !strings.HasPrefix(usual, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.") {
				t.Fatalf("golang-jwt wrote another header: %s", usual)
			}
			other := forged(`{"typ":"JWT","alg":"HS256"}`, c)
			id1, err1 := v.Verify(usual)
			id2, err2 := v.Verify(other)
			if id1 != id2 || sentinel(err1) != sentinel(err2) || (name == "valid") != (id1 == 1002) {
				t.Fatalf("usual header: %d, %v; other header: %d, %v", id1, err1, id2, err2)
			}
		})
	}
}

// sentinel is the buyerauth error err wraps, nil for nil.
func sentinel(err error) error {
	for _, e := range []error{buyerauth.ErrTokenTooLarge, buyerauth.ErrExpired, buyerauth.ErrNotYetValid,
		buyerauth.ErrBadSubject, buyerauth.ErrInvalidToken} {
		if errors.Is(err, e) {
			return e
		}
	}
	return err
}

// TestRememberedTokensAreValidatedAgain: a token served from the cache is held to the same claim rules as on its
// first use, on the verifier's clock: valid while it is, expired once exp (plus the leeway) has passed, and never
// served again after that. A token that is not yet valid is refused and not remembered; a token whose claims were
// swapped is a different token, verified in full and refused.
func TestRememberedTokensAreValidatedAgain(t *testing.T) {
	clock := now
	v, err := buyerauth.NewVerifier(buyerauth.Config{Secret: secret, Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	tok := sign(t, jwt.SigningMethodHS256, secret, claims("exp", now.Add(time.Minute).Unix()))
	for range 3 {
		if id, err := v.Verify(tok); err != nil || id != 1002 {
			t.Fatalf("buyer %d, %v; want 1002", id, err)
		}
	}
	clock = now.Add(time.Minute + buyerauth.DefaultLeeway - time.Second)
	if _, err := v.Verify(tok); err != nil {
		t.Fatalf("within the leeway: %v", err)
	}
	clock = now.Add(time.Minute + buyerauth.DefaultLeeway + time.Second)
	for range 2 {
		if _, err := v.Verify(tok); !errors.Is(err, buyerauth.ErrExpired) {
			t.Fatalf("after exp: %v, want ErrExpired", err)
		}
	}

	clock = now
	early := sign(t, jwt.SigningMethodHS256, secret, claims("nbf", now.Add(time.Hour).Unix()))
	if _, err := v.Verify(early); !errors.Is(err, buyerauth.ErrNotYetValid) {
		t.Fatalf("before nbf: %v, want ErrNotYetValid", err)
	}
	clock = now.Add(time.Hour)
	if _, err := v.Verify(early); err != nil {
		t.Fatalf("after nbf: %v", err)
	}

	clock = now
	good := sign(t, jwt.SigningMethodHS256, secret, claims())
	if _, err := v.Verify(good); err != nil {
		t.Fatal(err)
	}
	other := strings.Split(sign(t, jwt.SigningMethodHS256, secret, claims("sub", "1003")), ".")
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + other[1] + "." + parts[2] // buyer 1003's claims under buyer 1002's signature
	if _, err := v.Verify(tampered); !errors.Is(err, buyerauth.ErrInvalidToken) {
		t.Fatalf("claims swapped: %v, want ErrInvalidToken", err)
	}
}

// TestEvictedTokensVerifyAgain: far more distinct tokens than the cache holds all verify, and each still names
// its own buyer when used again, remembered or evicted.
func TestEvictedTokensVerifyAgain(t *testing.T) {
	v := verifier(t, buyerauth.Config{CacheSize: 4})
	toks := make([]string, 20)
	for i := range toks {
		toks[i] = sign(t, jwt.SigningMethodHS256, secret, claims("sub", strconv.Itoa(i+1)))
	}
	for round := range 2 {
		for i, tok := range toks {
			if id, err := v.Verify(tok); err != nil || id != int64(i+1) {
				t.Fatalf("round %d token %d: buyer %d, %v", round, i, id, err)
			}
		}
	}
}

// BenchmarkVerify is the cost of one buyer token check: a token verified with the cache off (parse and
// signature), a new token with the cache on (the same, plus remembering it: a buy of a new buyer), and a token
// used again (served from the cache, its claims validated again).
func BenchmarkVerify(b *testing.B) {
	for _, c := range []struct {
		name      string
		cacheSize int
		newTokens bool
	}{{"cache_off", -1, false}, {"new_token", 0, true}, {"again", 0, false}} {
		b.Run(c.name, func(b *testing.B) {
			v, err := buyerauth.NewVerifier(buyerauth.Config{Secret: secret, CacheSize: c.cacheSize})
			if err != nil {
				b.Fatal(err)
			}
			headers := make([]string, 1)
			if c.newTokens {
				headers = make([]string, b.N)
			}
			for i := range headers {
				tok, _ := buyerauth.Mint(secret, int64(10_000_001+i), time.Hour, time.Now())
				headers[i] = "Bearer " + tok
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if _, err := v.Buyer(headers[i%len(headers)]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
