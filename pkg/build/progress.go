package build

import (
	"fmt"
	"io"
	"log/slog"
	"time"
)

// progress reports the pipeline's steps: a line per step on a terminal,
// structured log records otherwise (CI, pipes).
type progress struct {
	term  io.Writer // nil when not a terminal
	log   *slog.Logger
	total int
	n     int
	step  string
	start time.Time
}

func (p *progress) begin(step string) {
	p.end()
	p.n++
	p.step, p.start = step, time.Now()
	if p.term != nil {
		fmt.Fprintf(p.term, "[%d/%d] %s…\n", p.n, p.total, step)
	}
	p.log.Info("build step", "step", p.n, "of", p.total, "name", step)
}

func (p *progress) end() {
	if p.step != "" {
		p.log.Debug("build step done", "name", p.step, "took", time.Since(p.start).Round(time.Millisecond))
		p.step = ""
	}
}
