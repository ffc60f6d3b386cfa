package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardenvm/hardenvm/internal/imagetest"
	"github.com/hardenvm/hardenvm/internal/registrytest"
	"github.com/hardenvm/hardenvm/internal/tty"
)

// onTerminal runs the CLI with stderr on a pseudo-terminal and returns
// what the terminal showed.
func onTerminal(t *testing.T, args ...string) (code int, term string) {
	t.Helper()
	ptmx, pts, err := tty.OpenPTY()
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	defer ptmx.Close()
	var got bytes.Buffer
	done := make(chan struct{})
	go func() { io.Copy(&got, ptmx); close(done) }()
	code = run(context.Background(), args, io.Discard, pts)
	pts.Close() // the reader sees EOF (EIO) once the terminal's last writer is gone
	<-done
	return code, got.String()
}

// TestProgressOnTerminal: lock, push and pull show their steps on a
// terminal, as build does, and nothing in a pipe or buffer.
func TestProgressOnTerminal(t *testing.T) {
	reg := registrytest.Start(t, "ci", "pw")
	registrytest.DockerConfig(t, reg.Addr, "ci", "pw")
	im := imagetest.New(t, imagetest.Options{})
	ref := reg.Addr + "/hardenvm/progress:v1"
	_, _, spec := lockFixture(t)
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"push", im.Dir, ref, "--keys", im.KeyDir}, []string{"[1] verifying " + im.Dir + "…", "uploading disk.raw (", "uploading the signature"}},
		{[]string{"pull", ref, filepath.Join(t.TempDir(), "vm"), "--keys", im.KeyDir}, []string{"[1] fetching manifest.json and its signature…", "downloading uki.efi (", "verifying the image…"}},
		{[]string{"lock", spec}, []string{"[1] reading trixie (InRelease, Packages)…", "resolving 1 packages…"}},
	}
	for _, tt := range tests {
		code, term := onTerminal(t, tt.args...)
		if code != exitOK {
			t.Fatalf("%q: exit %d, terminal %q", tt.args, code, term)
		}
		for _, w := range tt.want {
			if !strings.Contains(term, w) {
				t.Errorf("%q: the terminal shows %q, want %q in it", tt.args[0], term, w)
			}
		}
	}
	// In a buffer (a pipe, a log): no steps.
	os.RemoveAll(filepath.Join(filepath.Dir(spec), "t.lock.json"))
	for _, a := range [][]string{{"push", im.Dir, ref, "--keys", im.KeyDir}, {"lock", spec}} {
		code, _, stderr := hv(t, a...)
		if code != exitOK || stderr != "" {
			t.Errorf("%q without a terminal: exit %d, stderr %q", a, code, stderr)
		}
	}
}
