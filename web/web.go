// Package web serves the buyer's page (/) and the operator's page (/admin/): plain HTML, CSS and JavaScript
// embedded in the binary, with no build step and nothing fetched from elsewhere, so they work without internet.
//
// The pages only call the HTTP API of package httpapi; they hold no state on the server. The handler is safe for
// concurrent use.
package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var static embed.FS

// Config says what the pages offer.
type Config struct {
	// DevSignIn shows the development sign-in (a user id, no password) on the buyer's page. The server must then
	// answer POST /dev/token (seckill serve -dev).
	DevSignIn bool
}

// New returns the handler of /, /admin/ and /static/.
func New(cfg Config) (http.Handler, error) {
	files, err := fs.Sub(static, "static")
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	h := &handler{files: files, pages: map[string][]byte{}, built: time.Now()}
	for route, name := range map[string]string{"/": "index.html", "/admin/": "admin.html"} {
		t, err := template.ParseFS(files, name)
		if err != nil {
			return nil, fmt.Errorf("web: parse %s: %w", name, err)
		}
		var b bytes.Buffer
		if err := t.Execute(&b, cfg); err != nil {
			return nil, fmt.Errorf("web: render %s: %w", name, err)
		}
		h.pages[route] = b.Bytes()
	}
	return h, nil
}

type handler struct {
	files fs.FS
	pages map[string][]byte
	// built stamps the pages for If-Modified-Since: they change only with the binary.
	built time.Time
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	// The pages handle bearer tokens: no framing, no third-party code, no referrer.
	hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cache-Control", "no-cache")
	if page, ok := h.pages[r.URL.Path]; ok {
		hd.Set("Content-Type", "text/html; charset=utf-8")
		http.ServeContent(w, r, "page.html", h.built, bytes.NewReader(page))
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, "/static/")
	if name = path.Clean(name); !ok || name == "." || path.Ext(name) == ".html" {
		http.NotFound(w, r)
		return
	}
	http.ServeFileFS(w, r, h.files, name)
}
