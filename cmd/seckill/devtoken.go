package main

import (
	"errors"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// hs256Minter mints buyer tokens as CONTRACT.md "Buyer identity" defines them: HS256 with the buyer secret, sub =
// the decimal user id, exp required. The development sign-in of the buyer's page (serve -dev) is its only user
// here; swap it for the buyer-identity package's minter when that lands. Safe for concurrent use.
type hs256Minter struct {
	secret []byte
	now    func() time.Time
}

func newHS256Minter(secret string) (*hs256Minter, error) {
	if secret == "" {
		return nil, errors.New("SECKILL_DEV needs SECKILL_BUYER_JWT_SECRET to sign the development sign-in's tokens")
	}
	return &hs256Minter{secret: []byte(secret), now: time.Now}, nil
}

// Mint implements httpapi.TokenMinter.
func (m *hs256Minter) Mint(userID int64, ttl time.Duration) (string, error) {
	now := m.now()
	return jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
		Subject:   strconv.FormatInt(userID, 10),
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}).SignedString(m.secret)
}
