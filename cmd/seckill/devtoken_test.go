package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestDevMinterSignsBuyerTokensOfTheContract: the development sign-in's tokens are HS256 with the buyer secret,
// sub = the decimal user id and an exp, as CONTRACT.md "Buyer identity" says; without a secret -dev refuses to
// start.
func TestDevMinterSignsBuyerTokensOfTheContract(t *testing.T) {
	const devSecret = "a-development-secret-of-32-bytes!"
	m, err := newDevMinter(devSecret)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := m.Mint(1002, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var claims jwt.RegisteredClaims
	parsed, err := jwt.ParseWithClaims(tok, &claims, func(*jwt.Token) (any, error) { return []byte(devSecret), nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired())
	if err != nil || !parsed.Valid || claims.Subject != "1002" || time.Until(claims.ExpiresAt.Time) < 59*time.Minute {
		t.Fatalf("token %s: %v, claims %+v", tok, err, claims)
	}
	if _, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return []byte("other"), nil }); err == nil {
		t.Fatal("the token verifies with another secret")
	}
	if _, err := newDevMinter(""); err == nil || !strings.Contains(err.Error(), "SECKILL_BUYER_JWT_SECRET") {
		t.Fatalf("no secret: %v, want an error naming SECKILL_BUYER_JWT_SECRET", err)
	}
	for name, c := range map[string]struct {
		args []string
		env  map[string]string
	}{
		"serve -dev":       {[]string{"serve", "-dev"}, nil},
		"SECKILL_DEV=true": {[]string{"serve"}, map[string]string{"SECKILL_DEV": "true"}},
	} {
		err := run(context.Background(), c.args, envOf(c.env), io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "SECKILL_BUYER_JWT_SECRET") {
			t.Fatalf("development mode (%s) without a buyer secret: %v, want it refused naming the variable", name, err)
		}
	}
	if _, minter, err := buyerPages(Config{}); err != nil || minter != nil {
		t.Fatalf("production mode: minter %v, err %v; want no development sign-in", minter, err)
	}
}
