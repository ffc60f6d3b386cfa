package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hardenvm/hardenvm/boot/bootparams"
)

// run drives the supervisor as stage 2's loop does, for d.
func (s *supervisor) runFor(d time.Duration) {
	for end := time.Now().Add(d); time.Now().Before(end); {
		select {
		case name := <-s.restart:
			s.restartService(name)
		case <-time.After(20 * time.Millisecond):
			s.reap()
		}
	}
}

// starts reads the start times a test service logged (one per line).
func starts(t *testing.T, name string) []time.Duration {
	b, _ := os.ReadFile(filepath.Join(logDir, name+".log"))
	var out []time.Duration
	for _, l := range strings.Fields(string(b)) {
		ns, err := strconv.ParseInt(l, 10, 64)
		if err != nil {
			t.Fatalf("%s log: %q", name, l)
		}
		out = append(out, time.Duration(ns))
	}
	return out
}

// TestSupervisor runs real processes under the supervisor: restart
// policies, the doubling backoff, and the log files. (It never calls
// shutdown, which signals every process when it is PID 1.)
func TestSupervisor(t *testing.T) {
	logDir = t.TempDir()
	sh := "/bin/sh"
	if _, err := os.Stat(sh); err != nil {
		t.Skip("no /bin/sh")
	}
	stamp := `echo $(date +%s%N); `
	s := newSupervisor()
	for _, sv := range []bootparams.Service{
		{Name: "failing", Command: sh, Args: []string{"-c", stamp + "exit 3"}, Restart: bootparams.RestartOnFailure},
		{Name: "succeeds", Command: sh, Args: []string{"-c", stamp + "exit 0"}, Restart: bootparams.RestartOnFailure},
		{Name: "always", Command: sh, Args: []string{"-c", stamp + "exit 0"}, Restart: bootparams.RestartAlways},
		{Name: "never", Command: sh, Args: []string{"-c", stamp + "exit 1"}, Restart: bootparams.RestartNever},
		{Name: "env", Command: sh, Args: []string{"-c", `echo "$GREETING"; pwd`}, Restart: bootparams.RestartNever,
			Env: map[string]string{"GREETING": "hello"}},
		{Name: "missing", Command: "/nonexistent/cmd", Restart: bootparams.RestartNever},
	} {
		s.start(sv)
	}
	s.runFor(2500 * time.Millisecond)

	f := starts(t, "failing")
	if len(f) < 3 || len(f) > 4 {
		t.Fatalf("on-failure service started %d times in 2.5s, want 3 (backoff 0.5s, 1s, 2s)", len(f))
	}
	g1, g2 := f[1]-f[0], f[2]-f[1]
	if g1 < 450*time.Millisecond || g2 < 950*time.Millisecond || g2 < g1*3/2 {
		t.Errorf("restart gaps %v, %v: want about 0.5s then 1s", g1, g2)
	}
	if n := len(starts(t, "succeeds")); n != 1 {
		t.Errorf("on-failure service that exited 0 started %d times", n)
	}
	if n := len(starts(t, "always")); n < 3 {
		t.Errorf("always service started %d times", n)
	}
	if n := len(starts(t, "never")); n != 1 {
		t.Errorf("never service started %d times", n)
	}
	if b, _ := os.ReadFile(filepath.Join(logDir, "env.log")); string(b) != "hello\n/\n" {
		t.Errorf("env service printed %q", b)
	}
	if s.services["missing"].pid != 0 || s.services["missing"].waiting {
		t.Error("a service whose command is missing is running or waiting to restart")
	}
	// Stop what is still scheduled: nothing runs after the test.
	for _, svc := range s.services {
		svc.spec.Restart = bootparams.RestartNever
	}
	s.stopping = true
	s.runFor(300 * time.Millisecond)
	for name, svc := range s.services {
		if svc.pid != 0 {
			t.Errorf("service %s still running (pid %d)", name, svc.pid)
		}
	}
}
