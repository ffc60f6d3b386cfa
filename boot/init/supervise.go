package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hardenvm/hardenvm/boot/bootparams"
	"golang.org/x/sys/unix"
)

// logDir holds one log file per service: on the data partition when
// there is one, else on /run.
var logDir = "/run/hardenvm/log"

// Restart backoff: doubling from minBackoff up to maxBackoff; a service
// that ran longer than resetAfter starts again from minBackoff.
const (
	minBackoff = 500 * time.Millisecond
	maxBackoff = 30 * time.Second
	resetAfter = time.Minute
)

type service struct {
	spec    bootparams.Service
	pid     int
	started time.Time
	backoff time.Duration
	waiting bool // a restart is scheduled
}

type consoleProc struct {
	user string
	pid  int
}

// supervisor starts services, reaps every child (PID 1 inherits all
// orphans) and restarts services by their policy.
type supervisor struct {
	services map[string]*service
	order    []string
	byPid    map[int]*service
	console  *consoleProc
	restart  chan string
	stopping bool
}

func newSupervisor() *supervisor {
	return &supervisor{services: map[string]*service{}, byPid: map[int]*service{}, restart: make(chan string, 16)}
}

func (s *supervisor) start(spec bootparams.Service) {
	svc := &service{spec: spec, backoff: minBackoff}
	s.services[spec.Name] = svc
	s.order = append(s.order, spec.Name)
	s.run(svc)
}

func (s *supervisor) run(svc *service) {
	svc.waiting = false
	pid, err := spawnService(svc.spec)
	if err != nil {
		say("service %s: %v", svc.spec.Name, err)
		s.exited(svc, 127)
		return
	}
	svc.pid, svc.started = pid, time.Now()
	s.byPid[pid] = svc
	say("service %s started (pid %d)", svc.spec.Name, pid)
}

func (s *supervisor) restartService(name string) {
	if name == consoleRestart {
		if !s.stopping && s.console != nil && s.console.pid == 0 {
			s.startConsole()
		}
		return
	}
	if svc := s.services[name]; svc != nil && !s.stopping && svc.waiting {
		s.run(svc)
	}
}

// reap collects every exited child.
func (s *supervisor) reap() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
		code := ws.ExitStatus()
		if ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
		if svc, ok := s.byPid[pid]; ok {
			delete(s.byPid, pid)
			svc.pid = 0
			say("service %s exited (%s)", svc.spec.Name, describe(ws))
			s.exited(svc, code)
		} else if s.console != nil && pid == s.console.pid {
			s.console.pid = 0
			if !s.stopping {
				time.AfterFunc(time.Second, func() { s.restart <- consoleRestart })
			}
		}
	}
}

const consoleRestart = "\x00console"

func (s *supervisor) exited(svc *service, code int) {
	if s.stopping {
		return
	}
	switch svc.spec.Restart {
	case bootparams.RestartNever:
		return
	case bootparams.RestartAlways:
	default: // on-failure
		if code == 0 {
			return
		}
	}
	if time.Since(svc.started) > resetAfter {
		svc.backoff = minBackoff
	}
	d := svc.backoff
	svc.backoff = min(2*svc.backoff, maxBackoff)
	svc.waiting = true
	say("service %s restarts in %v", svc.spec.Name, d)
	name := svc.spec.Name
	time.AfterFunc(d, func() { s.restart <- name })
}

func describe(ws unix.WaitStatus) string {
	if ws.Signaled() {
		return "killed by " + ws.Signal().String()
	}
	return fmt.Sprintf("status %d", ws.ExitStatus())
}

// spawnService starts one service in its own session, as its user, with
// output going to its log file and to the console.
func spawnService(spec bootparams.Service) (int, error) {
	cred := &syscall.Credential{}
	home := "/"
	if spec.User != "" && spec.User != "root" {
		u, err := lookupUser(spec.User)
		if err != nil {
			return 0, err
		}
		cred = &syscall.Credential{Uid: u.uid, Gid: u.gid, Groups: u.groups}
		home = u.home
	}
	env := []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + home}
	for k, v := range spec.Env {
		env = append(env, k+"="+v)
	}
	null, err := os.Open(os.DevNull)
	if err != nil {
		return 0, err
	}
	defer null.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer w.Close()
	p, err := os.StartProcess(spec.Command, append([]string{spec.Command}, spec.Args...), &os.ProcAttr{
		Dir: "/", Env: env, Files: []*os.File{null, w, w},
		Sys: &syscall.SysProcAttr{Setsid: true, Credential: cred},
	})
	if err != nil {
		r.Close()
		return 0, err
	}
	pid := p.Pid
	p.Release() // reaped by Wait4(-1), never by os.Process
	logCopiers.Add(1)
	go copyLog(spec.Name, r)
	return pid, nil
}

// logCopiers counts the running copyLog goroutines: the shutdown waits
// for them so that no log file is open when the data partition unmounts.
var logCopiers sync.WaitGroup

// copyLog writes a service's output to its log file and, line by line
// with its name in front, to the console.
func copyLog(name string, r io.ReadCloser) {
	defer logCopiers.Done()
	defer r.Close()
	// Readable by the console user: the read-only console may look at logs.
	f, err := os.OpenFile(filepath.Join(logDir, name+".log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		say("service %s: log file: %v", name, err)
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 64<<10)
	for sc.Scan() {
		line := sc.Text()
		if f != nil {
			fmt.Fprintln(f, line)
		}
		fmt.Fprintf(os.Stdout, "[%s] %s\n", name, strings.TrimRight(line, "\r"))
	}
	if f != nil {
		f.Close()
	}
}

// shutdown stops services in reverse start order (SIGTERM, then SIGKILL
// after stopTimeout), then every other process, reaping as it goes.
func (s *supervisor) shutdown(sigs <-chan os.Signal) {
	s.stopping = true
	if s.console != nil && s.console.pid > 0 {
		unix.Kill(-s.console.pid, unix.SIGKILL)
	}
	for i := len(s.order) - 1; i >= 0; i-- {
		svc := s.services[s.order[i]]
		if svc.pid == 0 {
			continue
		}
		say("stopping service %s", svc.spec.Name)
		unix.Kill(svc.pid, unix.SIGTERM)
		if !s.waitGone(func() bool { return svc.pid == 0 }, stopTimeout) {
			say("service %s did not stop within %v: killing it", svc.spec.Name, stopTimeout)
			unix.Kill(-svc.pid, unix.SIGKILL)
			unix.Kill(svc.pid, unix.SIGKILL)
			s.waitGone(func() bool { return svc.pid == 0 }, killTimeout)
		}
	}
	if os.Getpid() != 1 {
		return // kill(-1) outside PID 1's VM would reach the host's processes
	}
	unix.Kill(-1, unix.SIGTERM)
	if !s.waitGone(noChildren, killTimeout) {
		unix.Kill(-1, unix.SIGKILL)
		s.waitGone(noChildren, killTimeout)
	}
	done := make(chan struct{})
	go func() { logCopiers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(killTimeout):
		say("WARNING: service output still open after %v", killTimeout)
	}
}

// waitGone reaps until done() or the timeout.
func (s *supervisor) waitGone(done func() bool, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for !done() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
		s.reap()
	}
	return true
}

func noChildren() bool {
	_, err := unix.Wait4(-1, nil, unix.WNOHANG, nil)
	return err == unix.ECHILD
}
