package httpapi

import (
	"net/http"
	"time"
)

// TokenMinter mints a buyer token (the Authorization: Bearer token of the buyer endpoints) for a user id, valid
// for ttl. Implementations must be safe for concurrent use.
type TokenMinter interface {
	Mint(userID int64, ttl time.Duration) (string, error)
}

// devTokenTTL is how long a development sign-in lasts.
const devTokenTTL = 12 * time.Hour

type devToken struct {
	Token     string    `json:"token"`
	UserID    int64     `json:"userId"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// devToken answers POST /dev/token {"userId":N} with a buyer token for user N: the development sign-in of the
// buyer's page. The route exists only when Deps.DevTokens is set (seckill serve -dev); anyone who can reach it
// can act as any buyer, so it must never be on in production.
func (s *Server) devToken(w http.ResponseWriter, r *http.Request) {
	fields, err := decodeObject(r, "userId")
	if err != nil {
		s.respond(w, r, nil, err)
		return
	}
	userID, err := positiveInt(fields, "userId")
	if err != nil {
		s.respond(w, r, nil, err)
		return
	}
	tok, err := s.deps.DevTokens.Mint(userID, devTokenTTL)
	if err != nil {
		s.respond(w, r, nil, err)
		return
	}
	writeOK(w, devToken{Token: tok, UserID: userID, ExpiresAt: s.deps.Now().Add(devTokenTTL).UTC().Truncate(time.Second)})
}
