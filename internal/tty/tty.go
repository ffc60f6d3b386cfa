// Package tty is what a person at a terminal sees of a long command: a
// line per step ("[2/5] uploading the disk (12.0 MiB)…") on a terminal,
// nothing in pipes, files or buffers, where the structured log records
// the steps instead. build, lock, push and pull share it.
package tty

import (
	"fmt"
	"io"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// Terminal returns w if it is a terminal (where progress belongs), else
// nil, so that logs, pipes and CI output stay free of it.
func Terminal(w io.Writer) io.Writer {
	f, ok := w.(*os.File)
	if !ok {
		return nil
	}
	if _, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err != nil {
		return nil
	}
	return w
}

// Steps numbers and prints the steps of a command on W. With a nil W (not
// a terminal) it prints nothing; a nil *Steps is silent too.
type Steps struct {
	W     io.Writer
	Total int // the number of steps; 0 when not known in advance
	mu    sync.Mutex
	n     int
}

// Begin prints the next step's line.
func (s *Steps) Begin(format string, args ...any) {
	if s == nil || s.W == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	what := fmt.Sprintf(format, args...)
	if s.Total > 0 {
		fmt.Fprintf(s.W, "[%d/%d] %s…\n", s.n, s.Total, what)
		return
	}
	fmt.Fprintf(s.W, "[%d] %s…\n", s.n, what)
}

// MiB formats a size for a step's line.
func MiB(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// OpenPTY opens a new pseudo-terminal: what a program writes to pts, the
// terminal, is read from ptmx. Tests use it to be a person at a terminal.
func OpenPTY() (ptmx, pts *os.File, err error) {
	ptmx, err = os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, err
	}
	if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		ptmx.Close()
		return nil, nil, err
	}
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		ptmx.Close()
		return nil, nil, err
	}
	pts, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		ptmx.Close()
		return nil, nil, err
	}
	return ptmx, pts, nil
}
