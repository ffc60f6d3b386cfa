package imagebuild

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/hardenvm/hardenvm/internal/tty"
)

// StepHook, when not nil, is called as each step begins, with its name
// (as the progress lines show it); an error it returns fails the build
// there. For tests (kill and failure injection) only.
var StepHook func(ctx context.Context, step string) error

// progress reports the pipeline's steps: a line per step on a terminal,
// structured log records otherwise (CI, pipes).
type progress struct {
	term  *tty.Steps
	log   *slog.Logger
	total int
	n     int
	step  string
	start time.Time
	out   string // the output directory, for the interruption message
}

// begin starts the next step, unless ctx is done (Ctrl-C, SIGTERM): every
// step boundary is a point where an interrupted build stops.
func (p *progress) begin(ctx context.Context, step string) error {
	if StepHook != nil {
		if err := StepHook(ctx, step); err != nil {
			return fmt.Errorf("build: at %s: %w", step, err)
		}
	}
	if err := p.interrupted(ctx); err != nil {
		return err
	}
	p.end()
	p.n++
	p.step, p.start = step, time.Now()
	p.term.Begin("%s", step)
	p.log.Info("build step", "step", p.n, "of", p.total, "name", step)
	return nil
}

// interrupted is ctx's error said for a person, or nil.
func (p *progress) interrupted(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return &interruptedError{p.out, err}
	}
	return nil
}

// interruptedError is a build stopped by its context.
type interruptedError struct {
	out string
	err error
}

func (e *interruptedError) Error() string {
	return fmt.Sprintf("build: interrupted, %s left as it was: %v", e.out, e.err)
}

func (e *interruptedError) Unwrap() error { return e.err }

func (p *progress) end() {
	if p.step != "" {
		p.log.Debug("build step done", "name", p.step, "took", time.Since(p.start).Round(time.Millisecond))
		p.step = ""
	}
}

// skip counts steps the stage cache made unnecessary, each said so.
func (p *progress) skip(steps ...string) {
	p.end()
	for _, step := range steps {
		p.n++
		p.log.Info("build step", "step", p.n, "of", p.total, "name", step, "reused", true)
		p.term.Begin("%s (reused)", step)
	}
}
