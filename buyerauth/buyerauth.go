// Package buyerauth tells who the buyer of a request is. A buyer token is a JWT signed with HS256 and the shared
// secret (SECKILL_BUYER_JWT_SECRET) whose `sub` is the buyer's decimal user id and whose `exp` is required; `nbf`
// and `iat` are honoured with a small leeway. Every other algorithm, `none` included, is refused. A Verifier may
// also accept EdDSA or RS256 tokens of an external identity provider, checked with its public key.
package buyerauth

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
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
}

// Verifier checks buyer tokens. It is safe for concurrent use and keeps no state between calls.
type Verifier struct {
	secret    any // []byte, boxed once rather than on every key lookup
	publicKey crypto.PublicKey
	publicAlg string
	parser    *jwt.Parser
}

// NewVerifier returns a Verifier for cfg.
func NewVerifier(cfg Config) (*Verifier, error) {
	if len(cfg.Secret) < MinSecretSize {
		return nil, fmt.Errorf("buyer token secret: want at least %d bytes, got %d", MinSecretSize, len(cfg.Secret))
	}
	v := &Verifier{secret: cfg.Secret, publicKey: cfg.PublicKey}
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
	var c claims
	_, err := v.parser.ParseWithClaims(token, &c, v.key)
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return 0, ErrExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return 0, ErrNotYetValid
	case err != nil:
		return 0, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	return parseSubject(c.Subject)
}

// claims are the claims a buyer token is checked on. The times decode as plain numbers, which costs a fifth of
// what jwt.RegisteredClaims' NumericDate costs on every request; the parser validates them all the same.
type claims struct {
	Subject   string   `json:"sub"`
	ExpiresAt *float64 `json:"exp"`
	NotBefore *float64 `json:"nbf"`
	IssuedAt  *float64 `json:"iat"`
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
