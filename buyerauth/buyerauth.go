// Package buyerauth tells who the buyer of a request is. A buyer token is a JWT signed with HS256 and the shared
// secret (SECKILL_BUYER_JWT_SECRET) whose `sub` is the buyer's decimal user id and whose `exp` is required; `nbf`
// and `iat` are honoured with a small leeway. Every other algorithm, `none` included, is refused. A Verifier may
// also accept EdDSA or RS256 tokens of an external identity provider, checked with its public key.
package buyerauth

import (
	"crypto"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MaxTokenSize is the largest token read; a longer one is refused before it is parsed.
const MaxTokenSize = 4 << 10

// MinSecretSize is the shortest HS256 secret accepted: RFC 7518 §3.2 wants a key at least as long as the hash.
const MinSecretSize = 32

// DefaultLeeway is the clock skew allowed on exp, nbf and iat.
const DefaultLeeway = 30 * time.Second

// Why a request has no buyer. Verify wraps one of them with the detail.
var (
	ErrNoToken       = errors.New("no bearer token")
	ErrTokenTooLarge = fmt.Errorf("token larger than %d bytes", MaxTokenSize)
	ErrInvalidToken  = errors.New("invalid token")
	ErrExpired       = errors.New("token expired")
	ErrNotYetValid   = errors.New("token not yet valid")
	ErrBadSubject    = errors.New("token sub is not a positive decimal user id")
)

// Config is what a Verifier checks tokens with.
type Config struct {
	// Secret is the HS256 key, at least MinSecretSize bytes. Required.
	Secret []byte
	// PublicKey, when set, is an external identity provider's key: an ed25519.PublicKey accepts EdDSA tokens, an
	// *rsa.PublicKey RS256 tokens, besides the HS256 ones.
	PublicKey crypto.PublicKey
	// Leeway is the clock skew allowed on exp, nbf and iat; zero means DefaultLeeway.
	Leeway time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// CacheSize bounds the verified tokens a Verifier remembers (see Verifier): up to twice CacheSize tokens of at
	// most MaxCachedTokenSize bytes. Zero means DefaultCacheSize; negative turns the cache off.
	CacheSize int
}

// DefaultCacheSize is the default Config.CacheSize: at most 2 × 4,096 remembered tokens, about 5 MB (measured:
// 2 × 16,384 took 20 MB of resident memory). A buyer's repeats (retries, polling, payment) come within
// seconds, well inside it.
const DefaultCacheSize = 4096

// MaxCachedTokenSize is the longest token the cache keeps; longer ones are verified in full every time.
const MaxCachedTokenSize = 512

// Verifier checks buyer tokens. It is safe for concurrent use. It remembers the claims of tokens whose signature
// it has verified, keyed by the whole token string, so that a buyer who sends the same token again (retries,
// result polling, payment) is not charged the parse and the signature again: a token string that verified once
// carries the same signed claims every time. The claims of a remembered token are validated again on every call
// with the same rules as a first one (exp, nbf, iat, leeway, the clock), so an expired token is refused exactly
// as it would be uncached. Only tokens that verified are remembered; a refusal is never cached.
type Verifier struct {
	secret    any // []byte, boxed once rather than on every key lookup
	publicKey crypto.PublicKey
	publicAlg string
	parser    *jwt.Parser
	validator *jwt.Validator // the parser's claim rules, for remembered tokens
	cache     *tokenCache    // nil: off
	macs      sync.Pool      // HMAC-SHA256 states keyed with the secret, reused by parseHS256
}

// NewVerifier returns a Verifier for cfg.
func NewVerifier(cfg Config) (*Verifier, error) {
	if len(cfg.Secret) < MinSecretSize {
		return nil, fmt.Errorf("buyer token secret: want at least %d bytes, got %d", MinSecretSize, len(cfg.Secret))
	}
	v := &Verifier{secret: cfg.Secret, publicKey: cfg.PublicKey}
	v.macs.New = func() any { return hmac.New(sha256.New, cfg.Secret) }
	methods := []string{jwt.SigningMethodHS256.Alg()}
	switch k := cfg.PublicKey.(type) {
	case nil:
	case ed25519.PublicKey:
		v.publicAlg = jwt.SigningMethodEdDSA.Alg()
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("buyer token public key: RSA key of %d bits, want at least 2048", k.N.BitLen())
		}
		v.publicAlg = jwt.SigningMethodRS256.Alg()
	default:
		return nil, fmt.Errorf("buyer token public key: %T is neither Ed25519 nor RSA", cfg.PublicKey)
	}
	if v.publicAlg != "" {
		methods = append(methods, v.publicAlg)
	}
	leeway := cfg.Leeway
	if leeway == 0 {
		leeway = DefaultLeeway
	}
	opts := []jwt.ParserOption{jwt.WithValidMethods(methods), jwt.WithExpirationRequired(), jwt.WithIssuedAt(),
		jwt.WithLeeway(leeway)}
	if cfg.Now != nil {
		opts = append(opts, jwt.WithTimeFunc(cfg.Now))
	}
	v.parser = jwt.NewParser(opts...)
	v.validator = jwt.NewValidator(opts...)
	switch {
	case cfg.CacheSize == 0:
		v.cache = newTokenCache(DefaultCacheSize)
	case cfg.CacheSize > 0:
		v.cache = newTokenCache(cfg.CacheSize)
	}
	return v, nil
}

// Buyer returns the buyer named by an Authorization header value, "Bearer <token>" (the scheme in any case).
func (v *Verifier) Buyer(authorization string) (int64, error) {
	scheme, token, _ := strings.Cut(authorization, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return 0, ErrNoToken
	}
	return v.Verify(strings.TrimLeft(token, " "))
}

// Verify returns the buyer (the `sub`) of a token, or an error wrapping ErrTokenTooLarge, ErrInvalidToken,
// ErrExpired, ErrNotYetValid or ErrBadSubject.
func (v *Verifier) Verify(token string) (int64, error) {
	if len(token) > MaxTokenSize {
		return 0, ErrTokenTooLarge
	}
	if token == "" {
		return 0, fmt.Errorf("%w: empty", ErrInvalidToken)
	}
	if v.cache != nil {
		if c, ok := v.cache.get(token); ok {
			if err := v.validator.Validate(&c.claims); err != nil {
				return 0, claimsError(err)
			}
			return c.buyer, nil
		}
	}
	var c claims
	if err := v.parse(token, &c); err != nil {
		return 0, claimsError(err)
	}
	buyer, err := parseSubject(c.Subject)
	if err != nil {
		return 0, err
	}
	if v.cache != nil && len(token) <= MaxCachedTokenSize {
		v.cache.put(token, verified{claims: c, buyer: buyer})
	}
	return buyer, nil
}

// hs256Header is the header segment golang-jwt, like most JWT libraries, writes on an HS256 token:
// base64url of {"alg":"HS256","typ":"JWT"}.
var hs256Header = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))

// parse verifies a token and decodes its claims into c. A token whose header segment is exactly hs256Header is
// checked with the parser's own steps minus the header's JSON decoding, whose outcome is known (alg HS256, which
// is always accepted): the signature over the first two segments with jwt.SigningMethodHS256 and the secret, then
// the claims decoded and validated by the parser's rules. Every other token, whatever its header, goes through
// jwt.Parser.ParseWithClaims.
func (v *Verifier) parse(token string, c *claims) error {
	if head, rest, ok := strings.Cut(token, "."); ok && head == hs256Header {
		if payload, sig, ok := strings.Cut(rest, "."); ok && !strings.Contains(sig, ".") {
			signed := token[:len(head)+1+len(payload)]
			return v.parseHS256(signed, payload, sig, c)
		}
	}
	_, err := v.parser.ParseWithClaims(token, c, v.key)
	return err
}

func (v *Verifier) parseHS256(signed, payload, sig string, c *claims) error {
	mac, err := v.parser.DecodeSegment(sig)
	if err != nil {
		return fmt.Errorf("%w: signature: %v", jwt.ErrTokenMalformed, err)
	}
	if !v.signedHS256(signed, mac) {
		return fmt.Errorf("%w: %v", jwt.ErrTokenSignatureInvalid, jwt.ErrSignatureInvalid)
	}
	raw, err := v.parser.DecodeSegment(payload)
	if err != nil {
		return fmt.Errorf("%w: claims: %v", jwt.ErrTokenMalformed, err)
	}
	if err := c.UnmarshalJSON(raw); err != nil {
		return fmt.Errorf("%w: claims: %v", jwt.ErrTokenMalformed, err)
	}
	return v.validator.Validate(c)
}

// signedHS256 tells whether mac is the HMAC-SHA256 of signed under the secret, compared in constant time (what
// jwt.SigningMethodHS256.Verify checks), on a keyed state from the pool: a new hmac.New per token costs its
// allocations and the two key blocks' hashing that Reset then saves.
func (v *Verifier) signedHS256(signed string, mac []byte) bool {
	h := v.macs.Get().(hash.Hash)
	defer v.macs.Put(h)
	h.Reset()
	_, _ = io.WriteString(h, signed)
	var sum [sha256.Size]byte
	return hmac.Equal(h.Sum(sum[:0]), mac)
}

// claimsError maps an error of the parser or the validator to the package's sentinels.
func claimsError(err error) error {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return ErrExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return ErrNotYetValid
	}
	return fmt.Errorf("%w: %v", ErrInvalidToken, err)
}

// verified is what the cache keeps of a token that verified: its claims, validated again on every use, and the
// buyer its sub names.
type verified struct {
	claims claims
	buyer  int64
}

// tokenCache remembers verified tokens in two generations of at most size entries each: when the current one is
// full it becomes the previous one and the one before is dropped, so the cache never holds more than 2 × size
// tokens, and a token used again is moved to the current generation. Safe for concurrent use.
type tokenCache struct {
	size      int
	mu        sync.Mutex
	cur, prev map[string]verified
}

func newTokenCache(size int) *tokenCache {
	return &tokenCache{size: size, cur: make(map[string]verified)}
}

func (c *tokenCache) get(token string) (verified, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.cur[token]; ok {
		return e, true
	}
	e, ok := c.prev[token]
	if ok {
		c.add(token, e)
	}
	return e, ok
}

func (c *tokenCache) put(token string, e verified) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.add(token, e)
}

func (c *tokenCache) add(token string, e verified) {
	if len(c.cur) >= c.size {
		c.prev, c.cur = c.cur, make(map[string]verified, c.size)
	}
	c.cur[token] = e
}

// claims are the claims a buyer token is checked on. The times decode as plain numbers, which costs a fifth of
// what jwt.RegisteredClaims' NumericDate costs on every request; the parser validates them all the same.
type claims struct {
	Subject   string   `json:"sub"`
	ExpiresAt *float64 `json:"exp"`
	NotBefore *float64 `json:"nbf"`
	IssuedAt  *float64 `json:"iat"`
}

// plainClaims is claims without methods, decoded by encoding/json's rules.
type plainClaims claims

// UnmarshalJSON decodes the claims exactly as encoding/json decodes them into plainClaims. The usual shape of a
// buyer token's claims — one flat object naming only sub, exp, nbf and iat, each at most once, sub a string of
// printable ASCII without escapes, the times integers of at most 15 digits — is read directly, without
// reflection; anything else, valid or not, is left to encoding/json.
func (c *claims) UnmarshalJSON(b []byte) error {
	if fastClaims(b, c) {
		return nil
	}
	*c = claims{}
	return json.Unmarshal(b, (*plainClaims)(c))
}

// fastClaims reads b into c when b has the usual shape (see claims.UnmarshalJSON) and reports whether it did;
// it leaves c alone otherwise.
func fastClaims(b []byte, c *claims) bool {
	var out claims
	var seen [4]bool
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = skipSpace(b, i+1)
	for {
		key, j, ok := plainString(b, i)
		if !ok {
			return false
		}
		i = skipSpace(b, j)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		i = skipSpace(b, i+1)
		var field **float64
		var n int
		switch string(key) {
		case "sub":
			n = 0
		case "exp":
			n, field = 1, &out.ExpiresAt
		case "nbf":
			n, field = 2, &out.NotBefore
		case "iat":
			n, field = 3, &out.IssuedAt
		default:
			return false
		}
		if seen[n] {
			return false
		}
		seen[n] = true
		if field == nil {
			sub, j, ok := plainString(b, i)
			if !ok {
				return false
			}
			out.Subject, i = string(sub), j
		} else {
			secs, j, ok := plainInteger(b, i)
			if !ok {
				return false
			}
			*field, i = &secs, j
		}
		i = skipSpace(b, i)
		if i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
			continue
		}
		if i < len(b) && b[i] == '}' && skipSpace(b, i+1) == len(b) {
			*c = out
			return true
		}
		return false
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// plainString reads a JSON string at b[i] made of printable ASCII without escapes; it returns its contents and
// the index after its closing quote.
func plainString(b []byte, i int) ([]byte, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, 0, false
	}
	for j := i + 1; j < len(b); j++ {
		switch ch := b[j]; {
		case ch == '"':
			return b[i+1 : j], j + 1, true
		case ch < 0x20 || ch > 0x7e || ch == '\\':
			return nil, 0, false
		}
	}
	return nil, 0, false
}

// plainInteger reads a JSON number at b[i] written as a non-negative integer of 1 to 15 digits without a leading
// zero (exactly representable, so its float64 is the one strconv.ParseFloat gives); it returns the value and
// the index after it.
func plainInteger(b []byte, i int) (float64, int, bool) {
	var n int64
	j := i
	for j < len(b) && b[j] >= '0' && b[j] <= '9' && j-i < 16 {
		n = n*10 + int64(b[j]-'0')
		j++
	}
	digits := j - i
	if digits == 0 || digits > 15 || (digits > 1 && b[i] == '0') {
		return 0, 0, false
	}
	return float64(n), j, true
}

func numericDate(secs *float64) *jwt.NumericDate {
	if secs == nil {
		return nil
	}
	whole, frac := math.Modf(*secs)
	return jwt.NewNumericDate(time.Unix(int64(whole), int64(frac*1e9)))
}

func (c *claims) GetExpirationTime() (*jwt.NumericDate, error) { return numericDate(c.ExpiresAt), nil }
func (c *claims) GetNotBefore() (*jwt.NumericDate, error)      { return numericDate(c.NotBefore), nil }
func (c *claims) GetIssuedAt() (*jwt.NumericDate, error)       { return numericDate(c.IssuedAt), nil }
func (c *claims) GetIssuer() (string, error)                   { return "", nil }
func (c *claims) GetSubject() (string, error)                  { return c.Subject, nil }
func (c *claims) GetAudience() (jwt.ClaimStrings, error)       { return nil, nil }

// key picks the key of the token's algorithm; the parser has already refused every algorithm not configured.
func (v *Verifier) key(t *jwt.Token) (any, error) {
	switch alg := t.Method.Alg(); {
	case alg == jwt.SigningMethodHS256.Alg():
		return v.secret, nil
	case alg == v.publicAlg:
		return v.publicKey, nil
	default:
		return nil, fmt.Errorf("algorithm %s refused", alg)
	}
}

// parseSubject reads a positive decimal user id written canonically: digits only, no sign, no leading zero.
func parseSubject(sub string) (int64, error) {
	id, err := strconv.ParseInt(sub, 10, 64)
	if err != nil || id < 1 || sub[0] < '1' || sub[0] > '9' {
		return 0, fmt.Errorf("%w: %q", ErrBadSubject, sub)
	}
	return id, nil
}

// Mint signs an HS256 token for the buyer, valid from now for ttl. It is what `seckill token` prints and what
// `seckill bench` sends; other tools may mint the same tokens with any JWT library.
func Mint(secret []byte, userID int64, ttl time.Duration, now time.Time) (string, error) {
	if len(secret) < MinSecretSize {
		return "", fmt.Errorf("buyer token secret: want at least %d bytes, got %d", MinSecretSize, len(secret))
	}
	if userID < 1 || ttl <= 0 {
		return "", fmt.Errorf("mint token: user %d, ttl %s: want a positive user id and ttl", userID, ttl)
	}
	claims := jwt.RegisteredClaims{Subject: strconv.FormatInt(userID, 10), IssuedAt: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl))}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("sign token of user %d: %w", userID, err)
	}
	return s, nil
}

// ReadPublicKey reads a PEM public key file (Ed25519 or RSA) of an external identity provider.
func ReadPublicKey(path string) (crypto.PublicKey, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read public key: %w", err)
	}
	if k, err := jwt.ParseEdPublicKeyFromPEM(pem); err == nil {
		return k, nil
	}
	k, err := jwt.ParseRSAPublicKeyFromPEM(pem)
	if err != nil {
		return nil, fmt.Errorf("public key %s: neither an Ed25519 nor an RSA PEM public key", path)
	}
	return k, nil
}
