package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// fakeMinter returns "token-for-<user>-<ttl>". It does not sign anything: it checks only what the handler asks
// for.
type fakeMinter struct{}

func (fakeMinter) Mint(userID int64, ttl time.Duration) (string, error) {
	return fmt.Sprintf("token-for-%d-%s", userID, ttl), nil
}

// TestDevTokenOnlyInDevelopment: POST /dev/token exists only when the server has a minter (seckill serve -dev),
// and then gives a token for the user id asked.
func TestDevTokenOnlyInDevelopment(t *testing.T) {
	if r := newStack(t).do("POST", "/dev/token", `{"userId":7}`); r.Status != http.StatusNotFound {
		t.Fatalf("POST /dev/token without -dev: %d, want 404", r.Status)
	}
	s := newStack(t, func(c *stackConfig) { c.apiDeps.DevTokens = fakeMinter{} })
	r := s.do("POST", "/dev/token", `{"userId":7}`)
	var tok struct {
		Token     string
		UserID    int64
		ExpiresAt time.Time
	}
	_ = json.Unmarshal(r.Data, &tok)
	if r.Status != http.StatusOK || tok.Token != "token-for-7-12h0m0s" || tok.UserID != 7 || time.Until(tok.ExpiresAt) < 11*time.Hour {
		t.Fatalf("POST /dev/token: %d %s", r.Status, r.Data)
	}
	for _, body := range []string{`{"userId":0}`, `{"userId":"7"}`, `{}`, `{"userId":7,"admin":true}`} {
		if r := s.do("POST", "/dev/token", body); r.Status != http.StatusBadRequest ||
			!strings.HasPrefix(r.Message, "userId") && !strings.HasPrefix(r.Message, "admin") {
			t.Fatalf("POST /dev/token %s: %d %q, want 400 naming the field", body, r.Status, r.Message)
		}
	}
}
