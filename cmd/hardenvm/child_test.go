package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hardenvm/hardenvm/internal/buildtest"
	"github.com/hardenvm/hardenvm/pkg/imagebuild"
	"github.com/hardenvm/hardenvm/pkg/imagedir"
	"github.com/hardenvm/hardenvm/pkg/keys"
)

// Environment of a child: the test binary run as the CLI (childCLI), which
// stops at a named step of a long command so that the test can kill it
// there.
const (
	envChildStop   = "HARDENVM_TEST_CHILD_STOP_AT" // (part of) a imagedir.InstallSteps or build step name
	envChildMarker = "HARDENVM_TEST_CHILD_MARKER"  // created when the child reaches the step
)

func TestMain(m *testing.M) {
	if stop := os.Getenv(envChildStop); stop != "" {
		os.Exit(childMain(stop, os.Getenv(envChildMarker)))
	}
	os.Exit(m.Run())
}

// childMain is main with a hook that, at the step named stop, creates the
// marker file and waits (bounded) for the test's signal. It does not act
// on the signal itself: after SIGINT, the command must notice on its own.
func childMain(stop, marker string) int {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	hook := func(ctx context.Context, s string) error {
		if !strings.Contains(s, stop) {
			return nil
		}
		os.WriteFile(marker, nil, 0o644)
		select {
		case <-ctx.Done():
		case <-time.After(30 * time.Second):
		}
		return nil
	}
	imagedir.StepHook, imagebuild.StepHook = hook, hook
	return run(ctx, os.Args[1:], os.Stdout, os.Stderr)
}

// child is a CLI process stopped at a step.
type child struct {
	cmd    *exec.Cmd
	out    string // its stdout and stderr
	exited chan error
}

// childCLI starts the CLI in a child process that stops at step, and
// returns once it got there (or fails the test within a minute).
func childCLI(t *testing.T, step string, args ...string) *child {
	t.Helper()
	tmp := t.TempDir()
	marker := filepath.Join(tmp, "reached")
	c := &child{cmd: exec.Command(os.Args[0], args...), out: filepath.Join(tmp, "output"), exited: make(chan error, 1)}
	c.cmd.Env = append(os.Environ(), envChildStop+"="+step, envChildMarker+"="+marker)
	f, err := os.Create(c.out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c.cmd.Stdout, c.cmd.Stderr = f, f
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.exited <- c.cmd.Wait() }()
	t.Cleanup(func() {
		c.cmd.Process.Kill()
		<-c.exited
		c.exited <- nil
	})
	deadline := time.After(time.Minute)
	for {
		if _, err := os.Stat(marker); err == nil {
			return c
		}
		select {
		case err := <-c.exited:
			c.exited <- err
			t.Fatalf("the child exited (%v) before step %s: %s", err, step, c.output())
		case <-deadline:
			t.Fatalf("the child did not reach step %s within a minute: %s", step, c.output())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop sends sig and waits (bounded) for the child to exit.
func (c *child) stop(t *testing.T, sig os.Signal) error {
	t.Helper()
	if err := c.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-c.exited:
		c.exited <- err
		return err
	case <-time.After(time.Minute):
		t.Fatalf("the child did not exit within a minute of %v: %s", sig, c.output())
		return nil
	}
}

func (c *child) output() string {
	b, _ := os.ReadFile(c.out)
	return string(b)
}

// killCase is a signal sent to a child stopped at a step.
type killCase struct {
	sig  syscall.Signal
	step string
}

// killAndCheck runs the CLI with args in a child stopped at each case's
// step and signals it there: img.Dir must stay byte-identical and verify,
// and after SIGINT the child exits 1 with one line saying it was
// interrupted. Then args run to the end, which must succeed and leave
// nothing of the killed runs beside img.Dir.
func killAndCheck(t *testing.T, img *buildtest.Image, args []string, cases []killCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(fmt.Sprintf("%v at %s", tt.sig, tt.step), func(t *testing.T) {
			was := buildtest.Digests(t, img.Dir)
			c := childCLI(t, tt.step, args...)
			err := c.stop(t, tt.sig)
			var ee *exec.ExitError
			if !errors.As(err, &ee) {
				t.Fatalf("the child exited with %v after %v, want a failure: %s", err, tt.sig, c.output())
			}
			if tt.sig == syscall.SIGINT {
				out := c.output()
				if ee.ExitCode() != exitFailure || !strings.Contains(out, "interrupted") || strings.Count(strings.TrimSpace(out), "\n") != 0 {
					t.Errorf("after SIGINT: exit %d, output %q; want exit 1 and one line saying it was interrupted", ee.ExitCode(), out)
				}
			}
			if diff := cmp.Diff(was, buildtest.Digests(t, img.Dir)); diff != "" {
				t.Errorf("%s changed (-before +after):\n%s", img.Dir, diff)
			}
			rep, err := imagedir.Verify(context.Background(), img.Dir, imagedir.Trust{PublicKey: img.Keys.Get(keys.Signing).Public()})
			if err == nil {
				err = rep.Err()
			}
			if err != nil {
				t.Errorf("%s no longer verifies: %v", img.Dir, err)
			}
		})
	}
	if code, out, e := hv(t, args...); code != 0 {
		t.Fatalf("%s after the kills: exit %d: %s%s", args[0], code, out, e)
	}
	if ents, _ := os.ReadDir(filepath.Dir(img.Dir)); len(ents) != 1 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("beside %s after a later %s: %v, want nothing", img.Dir, args[0], names)
	}
}
