package main

import (
	"errors"
	"time"

	"github.com/seckill/seckill/buyerauth"
)

// devMinter mints the tokens of the development sign-in of the buyer's page (serve -dev, POST /dev/token): the
// same tokens as `seckill token`, signed with the buyer secret by buyerauth.Mint. Safe for concurrent use.
type devMinter struct {
	secret []byte
	now    func() time.Time
}

func newDevMinter(secret string) (devMinter, error) {
	if secret == "" {
		return devMinter{}, errors.New("SECKILL_DEV needs SECKILL_BUYER_JWT_SECRET to sign the development sign-in's tokens")
	}
	return devMinter{secret: []byte(secret), now: time.Now}, nil
}

// Mint implements httpapi.TokenMinter.
func (m devMinter) Mint(userID int64, ttl time.Duration) (string, error) {
	return buyerauth.Mint(m.secret, userID, ttl, m.now())
}
