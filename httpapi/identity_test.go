package httpapi_test

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/schema"
)

// signed signs claims for buyer sub with the stacks' secret, changed by the given pairs (a nil value deletes one).
func signed(t *testing.T, m jwt.SigningMethod, key any, kv ...any) string {
	t.Helper()
	c := jwt.MapClaims{"sub": "1", "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(c, kv[i].(string))
		} else {
			c[kv[i].(string)] = kv[i+1]
		}
	}
	tok, err := jwt.NewWithClaims(m, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// rs256WithSecret is the key-confusion forgery: an RS256 header, signed with HMAC-SHA256 over the HS256 secret.
func rs256WithSecret(t *testing.T) string {
	valid := signed(t, jwt.SigningMethodHS256, buyerSecret)
	_, rest, _ := strings.Cut(valid, ".")
	payload, _, _ := strings.Cut(rest, ".")
	unsigned := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + payload
	mac := hmac.New(sha256.New, buyerSecret)
	mac.Write([]byte(unsigned))
	return unsigned + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// badAuthorizations are Authorization headers that name no buyer, with whether the challenge must say
// error="invalid_token" (a token came but was refused).
func badAuthorizations(t *testing.T) map[string]struct {
	header  string
	invalid bool
} {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	valid := signed(t, jwt.SigningMethodHS256, buyerSecret)
	head, rest, _ := strings.Cut(valid, ".")
	_, sig, _ := strings.Cut(rest, ".")
	hs := func(kv ...any) string { return "Bearer " + signed(t, jwt.SigningMethodHS256, buyerSecret, kv...) }
	type bad = struct {
		header  string
		invalid bool
	}
	return map[string]bad{
		"no header":            {"", false},
		"wrong scheme":         {"Basic " + base64.StdEncoding.EncodeToString([]byte("1:secret")), false},
		"token without scheme": {valid, false},
		"empty token":          {"Bearer ", true},
		"malformed base64":     {"Bearer " + head + ".%%%not*base64%%%." + sig, true},
		"wrong signature":      {"Bearer " + signed(t, jwt.SigningMethodHS256, []byte("not-the-secret-but-32-bytes-long!!")), true},
		"alg none":             {"Bearer " + signed(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType), true},
		"alg HS512":            {"Bearer " + signed(t, jwt.SigningMethodHS512, buyerSecret), true},
		"alg RS256, secret":    {"Bearer " + rs256WithSecret(t), true},
		"alg RS256, own key":   {"Bearer " + signed(t, jwt.SigningMethodRS256, rsaKey), true},
		"expired":              {hs("exp", time.Now().Add(-time.Hour).Unix()), true},
		"no exp":               {hs("exp", nil), true},
		"not yet valid":        {hs("nbf", time.Now().Add(time.Hour).Unix()), true},
		"sub missing":          {hs("sub", nil), true},
		"sub not an integer":   {hs("sub", "alice"), true},
		"sub zero":             {hs("sub", "0"), true},
		"sub negative":         {hs("sub", "-1"), true},
		"sub overflows":        {hs("sub", "99999999999999999999"), true},
		"token over 4 KiB":     {hs("pad", strings.Repeat("x", 4<<10)), true},
		"the admin token":      {"Bearer " + adminToken, true},
	}
}

// untouched snapshots what a buyer request could change about a product in Redis: stock, buyer marks, orders and
// the outbox.
func (s *stack) untouched(productID int64) string {
	s.t.Helper()
	ctx := context.Background()
	k := schema.KeysFor(productID)
	stock, _ := s.rdb.Get(ctx, k.Stock).Result()
	buyers, err1 := s.rdb.HGetAll(ctx, k.Buyers).Result()
	orders, err2 := s.rdb.HGetAll(ctx, k.Orders).Result()
	// The relay trims delivered entries at any time; the last id added is what a new event would move.
	last := "none"
	outbox, err3 := s.rdb.XInfoStream(ctx, k.Outbox).Result()
	switch {
	case err3 == nil:
		last = outbox.LastGeneratedID
	case err3.Error() == "ERR no such key":
		err3 = nil
	}
	if err1 != nil || err2 != nil || err3 != nil {
		s.t.Fatal(err1, err2, err3)
	}
	return fmt.Sprintf("stock=%s buyers=%v orders=%v last outbox entry=%s", stock, buyers, orders, last)
}

// orderOf reads the order number of a 200 from kill.
func orderOf(t *testing.T, r reply) string {
	t.Helper()
	var k struct{ OrderNo string }
	if err := json.Unmarshal(r.Data, &k); err != nil || r.Status != http.StatusOK {
		t.Fatalf("kill: %d %s", r.Status, r.Message)
	}
	return k.OrderNo
}

// TestNoValidTokenIs401AndNothingHappens: every buyer endpoint answers each bad Authorization with 401 and an RFC
// 6750 challenge, and nothing is reserved, paid or cancelled.
func TestNoValidTokenIs401AndNothingHappens(t *testing.T) {
	s := newStack(t)
	id := s.list(5)
	held := orderOf(t, s.kill(1, id))
	before := s.untouched(id)
	endpoints := map[string]struct{ method, path, body string }{
		"kill":           {"POST", "/seckill/kill", fmt.Sprintf(`{"productId":%d,"quantity":1}`, id)},
		"kill as userId": {"POST", "/seckill/kill", fmt.Sprintf(`{"userId":2,"productId":%d,"quantity":1}`, id)},
		"result":         {"GET", fmt.Sprintf("/seckill/result?userId=1&productId=%d", id), ""},
		"order":          {"GET", "/seckill/orders/" + held, ""},
		"pay":            {"POST", "/seckill/orders/" + held + "/pay", ""},
		"cancel":         {"POST", "/seckill/orders/" + held + "/cancel", ""},
	}
	for name, a := range badAuthorizations(t) {
		for ep, e := range endpoints {
			t.Run(name+"/"+ep, func(t *testing.T) {
				var r reply
				if a.header == "" {
					r = s.do(e.method, e.path, e.body)
				} else {
					r = s.do(e.method, e.path, e.body, "Authorization", a.header)
				}
				challenge := r.Header.Get("WWW-Authenticate")
				if r.Status != http.StatusUnauthorized || !strings.HasPrefix(challenge, "Bearer ") {
					t.Fatalf("answer %d %q with challenge %q, want 401 and a Bearer challenge", r.Status, r.Message, challenge)
				}
				if got := strings.Contains(challenge, `error="invalid_token"`); got != a.invalid {
					t.Fatalf("challenge %q: invalid_token %v, want %v", challenge, got, a.invalid)
				}
			})
		}
	}
	if after := s.untouched(id); after != before {
		t.Fatalf("redis changed:\nbefore %s\nafter  %s", before, after)
	}
}

// TestTokenIsCheckedBeforeRedis: with a Redis that does not answer, a bad token is still 401, not 503.
func TestTokenIsCheckedBeforeRedis(t *testing.T) {
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { _ = down.Close() })
	s := newStack(t, func(c *stackConfig) { c.deps.Redis = down })
	for _, path := range []string{"/seckill/kill", "/seckill/orders/SK1-00000001/cancel", "/seckill/orders/SK1-00000001/pay"} {
		r := s.do("POST", path, `{"productId":1,"quantity":1}`, "Authorization", "Bearer nope")
		if r.Status != http.StatusUnauthorized {
			t.Errorf("%s with a bad token and redis down: %d, want 401", path, r.Status)
		}
	}
	if r := s.as(1, "POST", "/seckill/kill", `{"productId":1,"quantity":1}`); r.Status != http.StatusServiceUnavailable {
		t.Errorf("kill with a good token and redis down: %d, want 503", r.Status)
	}
}

// TestTheTokenIsTheBuyer: the body's userId may be left out; when present it must be the token's sub.
func TestTheTokenIsTheBuyer(t *testing.T) {
	s := newStack(t)
	id := s.list(5)
	before := s.untouched(id)
	r := s.as(1, "POST", "/seckill/kill", fmt.Sprintf(`{"userId":2,"productId":%d,"quantity":1}`, id))
	if r.Status != http.StatusForbidden || !strings.HasPrefix(r.Message, "userId") {
		t.Fatalf("body userId 2 with the token of 1: %d %q, want 403 naming userId", r.Status, r.Message)
	}
	if r := s.as(1, "GET", fmt.Sprintf("/seckill/result?userId=2&productId=%d", id), ""); r.Status != http.StatusForbidden {
		t.Fatalf("result of buyer 2 with the token of 1: %d, want 403", r.Status)
	}
	if after := s.untouched(id); after != before {
		t.Fatalf("redis changed:\nbefore %s\nafter  %s", before, after)
	}
	r = s.as(1, "POST", "/seckill/kill", fmt.Sprintf(`{"productId":%d,"quantity":1}`, id))
	var k struct{ UserID int64 }
	if _ = json.Unmarshal(r.Data, &k); r.Status != http.StatusOK || k.UserID != 1 {
		t.Fatalf("kill without userId: %d %s, want 200 for buyer 1", r.Status, r.Data)
	}
	if r := s.kill(1, id); r.Status != http.StatusConflict {
		t.Fatalf("the same buyer naming itself: %d, want 409", r.Status)
	}
}

// TestTokensAndAdminTokenNeverCross: a buyer token opens no admin endpoint; the admin token opens no buyer one.
func TestTokensAndAdminTokenNeverCross(t *testing.T) {
	s := newStack(t)
	id := s.list(5)
	before := s.untouched(id)
	for path, body := range map[string]string{"/admin/products": `{"id":5,"name":"x","price":1,"stock":1}`,
		fmt.Sprintf("/admin/products/%d/audit", id): ""} {
		method := map[bool]string{true: "POST", false: "GET"}[body != ""]
		if r := s.as(1, method, path, body); r.Status != http.StatusUnauthorized {
			t.Errorf("buyer token on %s %s: %d, want 401", method, path, r.Status)
		}
	}
	r := s.do("POST", "/seckill/kill", fmt.Sprintf(`{"userId":1,"productId":%d,"quantity":1}`, id), "Authorization", "Bearer "+adminToken)
	if r.Status != http.StatusUnauthorized {
		t.Errorf("admin token on kill: %d, want 401", r.Status)
	}
	if after := s.untouched(id); after != before {
		t.Fatalf("redis changed:\nbefore %s\nafter  %s", before, after)
	}
}

// TestAnotherBuyersOrderIsNotFound: reading, paying or cancelling an order of another buyer answers exactly what
// an order that does not exist answers, and changes nothing; its buyer still can.
func TestAnotherBuyersOrderIsNotFound(t *testing.T) {
	s := newStack(t, projectNow)
	id := s.list(5)
	no := orderOf(t, s.kill(1, id))
	missing := fmt.Sprintf("SK%d-99999999", id)
	before := s.untouched(id)
	for _, op := range []struct{ method, suffix string }{{"GET", ""}, {"POST", "/pay"}, {"POST", "/cancel"}} {
		theirs := s.as(2, op.method, "/seckill/orders/"+no+op.suffix, "")
		none := s.as(2, op.method, "/seckill/orders/"+missing+op.suffix, "")
		if theirs.Status != http.StatusNotFound || none.Status != http.StatusNotFound ||
			theirs.Message != strings.ReplaceAll(none.Message, missing, no) || string(theirs.Data) != string(none.Data) {
			t.Errorf("%s %s of another buyer: %d %q %s; missing order: %d %q %s", op.method, op.suffix,
				theirs.Status, theirs.Message, theirs.Data, none.Status, none.Message, none.Data)
		}
	}
	if r := s.as(2, "GET", fmt.Sprintf("/seckill/result?productId=%d", id), ""); !strings.Contains(string(r.Data), `"NONE"`) {
		t.Errorf("buyer 2's result: %s, want NONE (buyer 1's order is not theirs)", r.Data)
	}
	if after := s.untouched(id); after != before {
		t.Fatalf("redis changed:\nbefore %s\nafter  %s", before, after)
	}
	if r := s.as(1, "GET", "/seckill/orders/"+no, ""); r.Status != http.StatusOK || !strings.Contains(string(r.Data), `"userId":1`) {
		t.Fatalf("the buyer reads the order: %d %s", r.Status, r.Data)
	}
	if r := s.as(1, "POST", "/seckill/orders/"+no+"/pay", ""); r.Status != http.StatusOK {
		t.Fatalf("the buyer pays: %d %s", r.Status, r.Message)
	}
}

// TestEnumerationAttack walks every order number of a sale with another buyer's token, reading, paying and
// cancelling: all 404, nothing changes.
func TestEnumerationAttack(t *testing.T) {
	s := newStack(t, projectNow)
	id := s.list(20)
	for u := range int64(10) {
		orderOf(t, s.kill(100+u, id))
	}
	before := s.untouched(id)
	for n := 1; n <= 12; n++ {
		no := fmt.Sprintf("SK%d-%08d", id, n)
		for _, op := range []struct{ method, suffix string }{{"GET", ""}, {"POST", "/cancel"}, {"POST", "/pay"}} {
			if r := s.as(666, op.method, "/seckill/orders/"+no+op.suffix, ""); r.Status != http.StatusNotFound {
				t.Errorf("%s %s%s by the attacker: %d, want 404", op.method, no, op.suffix, r.Status)
			}
		}
	}
	if after := s.untouched(id); after != before {
		t.Fatalf("redis changed:\nbefore %s\nafter  %s", before, after)
	}
	var cancelled int
	if err := s.db.DB.QueryRow(`SELECT COUNT(*) FROM tb_seckill_order WHERE product_id = ? AND status <> 0`, id).Scan(&cancelled); err != nil || cancelled != 0 {
		t.Fatalf("%d orders no longer awaiting payment in MySQL (%v), want 0", cancelled, err)
	}
}

// TestTrustedMode: behind a gateway the request names the buyer (body userId of kill, userId query parameter
// elsewhere), and an order still answers only to its own buyer.
func TestTrustedMode(t *testing.T) {
	s := newStack(t, trusted, projectNow)
	id := s.list(5)
	kill := func(body string) reply { return s.do("POST", "/seckill/kill", body) }
	if r := kill(fmt.Sprintf(`{"productId":%d,"quantity":1}`, id)); r.Status != http.StatusBadRequest || !strings.HasPrefix(r.Message, "userId") {
		t.Fatalf("kill without userId: %d %q, want 400 naming userId", r.Status, r.Message)
	}
	no := orderOf(t, kill(fmt.Sprintf(`{"userId":1,"productId":%d,"quantity":1}`, id)))
	if r := s.do("GET", fmt.Sprintf("/seckill/result?userId=1&productId=%d", id), ""); !strings.Contains(string(r.Data), no) {
		t.Fatalf("result of buyer 1: %d %s", r.Status, r.Data)
	}
	if r := s.do("GET", fmt.Sprintf("/seckill/result?productId=%d", id), ""); r.Status != http.StatusBadRequest {
		t.Fatalf("result without userId: %d, want 400", r.Status)
	}
	before := s.untouched(id)
	for _, op := range []struct{ method, suffix string }{{"GET", ""}, {"POST", "/pay"}, {"POST", "/cancel"}} {
		if r := s.do(op.method, "/seckill/orders/"+no+op.suffix+"?userId=2", ""); r.Status != http.StatusNotFound {
			t.Errorf("%s %s as buyer 2: %d, want 404", op.method, op.suffix, r.Status)
		}
		if r := s.do(op.method, "/seckill/orders/"+no+op.suffix, ""); r.Status != http.StatusBadRequest {
			t.Errorf("%s %s naming no buyer: %d, want 400", op.method, op.suffix, r.Status)
		}
	}
	if after := s.untouched(id); after != before {
		t.Fatalf("redis changed:\nbefore %s\nafter  %s", before, after)
	}
	if r := s.do("GET", "/seckill/orders/"+no+"?userId=1", ""); r.Status != http.StatusOK {
		t.Fatalf("buyer 1 reads the order: %d %s", r.Status, r.Message)
	}
	if r := s.do("POST", "/seckill/orders/"+no+"/cancel?userId=1", ""); r.Status != http.StatusOK {
		t.Fatalf("buyer 1 cancels: %d %s", r.Status, r.Message)
	}
	if got := s.redisStock(id); got != 5 {
		t.Fatalf("stock %d after the cancellation, want 5", got)
	}
}
