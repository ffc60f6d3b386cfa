package vm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
)

// Console is the VM's serial console: everything the guest prints is kept
// (in memory and in the serial log) and can be waited for; lines can be
// sent to the guest.
type Console struct {
	mu      sync.Mutex
	buf     []byte
	pos     int           // Expect searches from here
	changed chan struct{} // closed and replaced on every new output
	closed  bool
	in      io.Writer
	logPath string
}

func newConsole(in io.Writer, logPath string) *Console {
	return &Console{in: in, changed: make(chan struct{}), logPath: logPath}
}

// pump copies the guest's output into the console until out ends. tee
// (the serial log, a terminal) gets every byte too.
func (c *Console) pump(out io.Reader, tee io.Writer) {
	b := make([]byte, 32*1024)
	for {
		n, err := out.Read(b)
		if n > 0 {
			if tee != nil {
				tee.Write(b[:n])
			}
			c.mu.Lock()
			c.buf = append(c.buf, b[:n]...)
			close(c.changed)
			c.changed = make(chan struct{})
			c.mu.Unlock()
		}
		if err != nil {
			c.mu.Lock()
			c.closed = true
			close(c.changed)
			c.changed = make(chan struct{})
			c.mu.Unlock()
			return
		}
	}
}

// ErrConsoleClosed means the VM went away while a pattern was awaited.
var ErrConsoleClosed = errors.New("console closed: the VM has exited")

// Expect waits until re matches output that came after the previous
// match, and returns the submatches. Only complete lines are searched
// (until the VM exits), so a pattern never matches half a line that is
// still being printed: `kernel=(\S+)` sees "kernel=6.12.1", not "kernel=6".
// It fails when ctx ends (the caller's deadline) or the VM exits first; the
// error names the pattern and the serial log to read.
func (c *Console) Expect(ctx context.Context, re *regexp.Regexp) ([]string, error) {
	for {
		c.mu.Lock()
		end := len(c.buf)
		if !c.closed {
			end = bytes.LastIndexByte(c.buf, '\n') + 1
		}
		if end < c.pos {
			end = c.pos
		}
		if loc := re.FindSubmatchIndex(c.buf[c.pos:end]); loc != nil {
			var subs []string
			for i := 0; i < len(loc); i += 2 {
				if loc[i] < 0 {
					subs = append(subs, "")
					continue
				}
				subs = append(subs, string(c.buf[c.pos+loc[i]:c.pos+loc[i+1]]))
			}
			c.pos += loc[1]
			c.mu.Unlock()
			return subs, nil
		}
		closed, changed := c.closed, c.changed
		c.mu.Unlock()
		if closed {
			return nil, fmt.Errorf("waiting for %q: %w (last output: %s; serial log %s)", re, ErrConsoleClosed, c.Tail(3), c.logPath)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for %q: %w (last output: %s; serial log %s)", re, context.Cause(ctx), c.Tail(3), c.logPath)
		}
	}
}

// Wait waits until s appears anywhere in the output, on a complete line,
// without moving Expect's position: for a watcher beside the code that
// expects. It fails like Expect.
func (c *Console) Wait(ctx context.Context, s string) error {
	for {
		c.mu.Lock()
		end := len(c.buf)
		if !c.closed {
			end = bytes.LastIndexByte(c.buf, '\n') + 1
		}
		found := bytes.Contains(c.buf[:end], []byte(s))
		closed, changed := c.closed, c.changed
		c.mu.Unlock()
		switch {
		case found:
			return nil
		case closed:
			return fmt.Errorf("waiting for %q: %w", s, ErrConsoleClosed)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("waiting for %q: %w", s, context.Cause(ctx))
		}
	}
}

// ExpectString is Expect for a literal string.
func (c *Console) ExpectString(ctx context.Context, s string) error {
	_, err := c.Expect(ctx, regexp.MustCompile(regexp.QuoteMeta(s)))
	return err
}

// Send writes a line to the guest's console.
func (c *Console) Send(line string) error {
	_, err := io.WriteString(c.in, line+"\n")
	if err != nil {
		return fmt.Errorf("console: sending %q: %w", line, err)
	}
	return nil
}

// Output returns everything the guest printed so far.
func (c *Console) Output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(c.buf)
}

// Tail returns the last n non-empty lines, quoted on one line.
func (c *Console) Tail(n int) string {
	c.mu.Lock()
	lines := bytes.Split(bytes.TrimRight(c.buf, "\r\n"), []byte("\n"))
	c.mu.Unlock()
	var out []string
	for i := len(lines) - 1; i >= 0 && len(out) < n; i-- {
		if l := strings.TrimSpace(string(lines[i])); l != "" {
			out = append([]string{fmt.Sprintf("%q", l)}, out...)
		}
	}
	if len(out) == 0 {
		return "(none)"
	}
	return strings.Join(out, " ")
}
