package tty

import (
	"bytes"
	"os"
	"testing"
)

// TestTerminal: progress goes to a terminal (a pseudo-terminal
// here) and never to a pipe, a file or a buffer.
func TestTerminal(t *testing.T) {
	ptmx, pts, err := OpenPTY()
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	defer ptmx.Close()
	defer pts.Close()
	if Terminal(pts) == nil {
		t.Errorf("Terminal(pty) = nil, want the terminal")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	f, err := os.Create(t.TempDir() + "/log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for name, out := range map[string]any{"pipe": w, "file": f, "buffer": &bytes.Buffer{}} {
		if got := Terminal(out.(interface{ Write([]byte) (int, error) })); got != nil {
			t.Errorf("Terminal(%s) = %v, want nil", name, got)
		}
	}
}

func TestSteps(t *testing.T) {
	var b bytes.Buffer
	s := &Steps{W: &b, Total: 2}
	s.Begin("uploading %s (%s)", "disk.raw", MiB(3<<20))
	s.Begin("verifying")
	if want := "[1/2] uploading disk.raw (3.0 MiB)…\n[2/2] verifying…\n"; b.String() != want {
		t.Errorf("Steps wrote %q, want %q", b.String(), want)
	}
	var quiet *Steps
	quiet.Begin("nothing") // a nil *Steps is silent
	(&Steps{}).Begin("nothing")
}
