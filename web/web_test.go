package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/seckill/seckill/web"
)

func get(t *testing.T, h http.Handler, path string) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	body, _ := io.ReadAll(rec.Result().Body)
	return rec.Result(), string(body)
}

// TestPagesAreServedFromTheBinary: both pages and their files come from the binary, with a policy that allows
// nothing from elsewhere; the development sign-in is on the page only when asked for.
func TestPagesAreServedFromTheBinary(t *testing.T) {
	prod, err := web.New(web.Config{})
	if err != nil {
		t.Fatal(err)
	}
	dev, err := web.New(web.Config{DevSignIn: true})
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		h          http.Handler
		path, want string
		ctype      string
	}{
		"buyer's page":        {prod, "/", `id="sale-template"`, "text/html"},
		"operator's page":     {prod, "/admin/", "上架商品", "text/html"},
		"script":              {prod, "/static/buyer.js", "/seckill/kill", "text/javascript"},
		"style":               {prod, "/static/style.css", "tabular-nums", "text/css"},
		"dev sign-in when on": {dev, "/", `id="dev-form"`, "text/html"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			resp, body := get(t, c.h, c.path)
			if resp.StatusCode != http.StatusOK || !strings.Contains(body, c.want) ||
				!strings.HasPrefix(resp.Header.Get("Content-Type"), c.ctype) {
				t.Fatalf("GET %s: %d %s, want 200 %s containing %q", c.path, resp.StatusCode, resp.Header.Get("Content-Type"), c.ctype, c.want)
			}
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
				t.Fatalf("GET %s: Content-Security-Policy %q", c.path, csp)
			}
		})
	}
	if _, body := get(t, prod, "/"); strings.Contains(body, "dev-form") || strings.Contains(body, "http://") || strings.Contains(body, "https://") {
		t.Fatal("the production buyer's page offers the development sign-in or loads something from elsewhere")
	}
	for _, path := range []string{"/static/", "/static/index.html", "/static/nope.js", "/static/../web.go"} {
		if resp, _ := get(t, prod, path); resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusBadRequest {
			t.Errorf("GET %s: %d, want 404 (or 400)", path, resp.StatusCode)
		}
	}
}
