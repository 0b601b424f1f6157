package replay

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Redraw and print intervals of NewProgressPrinter.
const (
	barInterval  = 200 * time.Millisecond
	lineInterval = 5 * time.Second
)

// NewProgressPrinter returns a Config.Progress that writes to w: on a terminal, a bar redrawn in place with the
// events per second and the ETA (cleared at the end); otherwise a plain line every few seconds. The final
// summary is the caller's. It is not safe for concurrent use; Run calls it from one goroutine.
func NewProgressPrinter(w io.Writer, terminal bool) func(Progress) {
	var last time.Time
	return func(p Progress) {
		now := time.Now()
		if terminal {
			if p.Done {
				fmt.Fprint(w, "\r\033[K")
				return
			}
			if now.Sub(last) < barInterval {
				return
			}
			last = now
			fmt.Fprintf(w, "\r\033[K%s %s", bar(p, 30), progressLine(p))
			return
		}
		if p.Done || now.Sub(last) < lineInterval {
			if last.IsZero() {
				last = now
			}
			return
		}
		last = now
		fmt.Fprintf(w, "replay: %s\n", progressLine(p))
	}
}

func progressLine(p Progress) string {
	pct := 100.0
	if p.Total > 0 {
		pct = 100 * float64(p.Applied) / float64(p.Total)
	}
	eta := "?"
	if d := p.ETA(); d > 0 {
		eta = d.Round(time.Second).String()
	}
	return fmt.Sprintf("%5.1f%% %d/%d events, seq %d, %.0f events/s, ETA %s", pct, p.Applied, p.Total, p.Seq,
		p.Rate(), eta)
}

func bar(p Progress, width int) string {
	done := width
	if p.Total > 0 {
		done = int(int64(width) * min(p.Applied, p.Total) / p.Total)
	}
	return "[" + strings.Repeat("#", done) + strings.Repeat(".", width-done) + "]"
}
