package main

import (
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/seckill/seckill/buyerauth"
)

// token prints a buyer token for development and tools: `seckill token -user N [-ttl 1h]`, signed with
// SECKILL_BUYER_JWT_SECRET.
func token(cfg Config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	user := fs.Int64("user", 0, "the buyer's user id (required, positive)")
	ttl := fs.Duration("ttl", time.Hour, "how long the token is valid")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return errUsage
	}
	if *user < 1 || *ttl <= 0 {
		return fmt.Errorf("token: -user must be a positive user id and -ttl a positive duration: %w", errUsage)
	}
	if cfg.BuyerSecret == "" {
		return errNoBuyerSecret
	}
	tok, err := buyerauth.Mint([]byte(cfg.BuyerSecret), *user, *ttl, time.Now())
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}
