package httpapi

import (
	"context"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// healthz answers 200 while the process runs.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeOK(w, map[string]string{"status": "alive"})
}

// readyz answers 200 only when every dependency answers within 2s, and 503 naming the failing ones otherwise;
// 503 also once Drain was called.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		writeJSON(w, http.StatusServiceUnavailable, "not ready: shutting down", nil)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	status := make(map[string]string, len(s.deps.Checks))
	var mu sync.Mutex
	var wg sync.WaitGroup
	var failed []string
	for _, c := range s.deps.Checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := c.Ping(ctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				status[c.Name] = err.Error()
				failed = append(failed, c.Name)
				return
			}
			status[c.Name] = "ok"
		}()
	}
	wg.Wait()
	if len(failed) > 0 {
		sort.Strings(failed)
		writeJSON(w, http.StatusServiceUnavailable, "not ready: "+strings.Join(failed, ", ")+" unavailable", status)
		return
	}
	writeOK(w, status)
}
