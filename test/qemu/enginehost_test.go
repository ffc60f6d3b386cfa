package qemu

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hardenvm/hardenvm/internal/testenv"
)

// lockedBuffer collects a process's output for polling while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// desktopRun is `hardenvm run` of an image as a user starts it, with a
// docker context for the real docker CLI.
type desktopRun struct {
	cli, img, keysDir, state string
	context, dockerConfig    string
	extra                    []string            // more run flags
	stderr                   *lockedBuffer       // run's stderr, when the test reads it
	user                     *syscall.Credential // run and the docker CLI as this user, when set
}

// as runs cmd as d.user, when set, with HOME in the state directory's
// parent (that user's home may not exist).
func (d desktopRun) as(cmd *exec.Cmd) {
	if d.user == nil {
		return
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: d.user}
	cmd.Env = append(cmd.Env, "HOME="+filepath.Dir(d.state))
}

// start runs it and waits, at most 8 minutes, for "engine ready"; stop
// (also at the test's end) sends SIGTERM and waits for the orderly
// shutdown, at most 90 s.
func (d desktopRun) start(t testing.TB) (stop func()) {
	t.Helper()
	args := append([]string{"run", d.img, "--keys", d.keysDir, "--state", d.state, "--no-stdin", "--accel", "tcg",
		"--memory", "2048", "--docker-context", d.context, "--timeout", "20m"}, d.extra...)
	cmd := exec.Command(d.cli, args...)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+d.dockerConfig)
	d.as(cmd)
	stderr := d.stderr
	if stderr == nil {
		stderr = &lockedBuffer{}
	}
	from := len(stderr.String()) // a shared buffer holds earlier runs
	cmd.Stdout, cmd.Stderr = &lockedBuffer{}, stderr
	started := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(90 * time.Second):
			cmd.Process.Kill()
			t.Errorf("hardenvm run did not end within 90s of SIGTERM: %s", stderr.String())
		}
	}
	t.Cleanup(stop)
	for deadline := time.Now().Add(8 * time.Minute); !strings.Contains(stderr.String()[from:], "hardenvm: engine ready"); time.Sleep(100 * time.Millisecond) {
		select {
		case err := <-done:
			t.Fatalf("hardenvm run ended before the engine was ready: %v: %s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no 'engine ready' within 8m: %s", stderr.String())
		}
	}
	t.Logf("engine ready %v after run started", time.Since(started).Round(time.Second))
	return stop
}

// docker runs the docker CLI on the run's context, bounded.
func (d desktopRun) docker(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", append([]string{"--context", d.context}, args...)...)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+d.dockerConfig)
	d.as(cmd)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// TestDesktopEngineHost uses the desktop image as a user does: `hardenvm
// run` with a state directory and a docker context, the host's docker CLI
// on STATE/docker.sock. First boot: the socket is the user's alone (0600),
// the engine answers as soon as run says it is ready, a locally loaded
// image runs in the hardened runtime's user namespace, a container reaches
// a server on the host's loopback, published ports (-p PORT:80 and
// -p 127.0.0.1:PORT:80) answer on the host within 5 s and close when the
// container goes (with the time to the first answer and a 64 MiB
// transfer's throughput logged), a port the host holds stays the host's
// while the container runs on, a volume gets a file, a --restart always
// container starts, and the VM attests. SIGTERM shuts it down in order:
// the data disk is clean. Second boot with the same state and no network
// (--network none): the image, the volume's file and the container are
// back, and a published port still answers.
func TestDesktopEngineHost(t *testing.T) {
	requireQEMU(t)
	testenv.Tool(t, "docker", "docker.io")
	e2fsck := testenv.Tool(t, "e2fsck", "e2fsprogs")
	keysDir := newKeys(t)
	img := buildDesktop(t, keysDir)
	cli := hardenvmBinary(t)
	state := filepath.Join(t.TempDir(), "state")
	dockerConfig := t.TempDir()
	imageTar := filepath.Join(t.TempDir(), "hvtest.tar")
	if err := os.WriteFile(imageTar, busyboxImage(t, "hvtest:1"), 0o644); err != nil {
		t.Fatal(err)
	}

	runLog := &lockedBuffer{}
	d := desktopRun{cli: cli, img: img, keysDir: keysDir, state: state, context: "hvtest", dockerConfig: dockerConfig, stderr: runLog}
	dockerCLI := func(t *testing.T, args ...string) string {
		t.Helper()
		out, err := d.docker(args...)
		if err != nil {
			t.Fatalf("docker %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return out
	}
	boot := d.start
	sock := filepath.Join(state, "docker.sock")

	t.Run("first boot", func(t *testing.T) {
		stop := boot(t)
		ready := time.Now()
		ping := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}}
		resp, err := ping.Get("http://engine/_ping")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("/_ping on %s right after 'engine ready': %v %v", sock, resp, err)
		}
		resp.Body.Close()
		if took := time.Since(ready); took > time.Second {
			t.Errorf("the engine answered %v after run said it was ready, want ≤ 1s", took)
		}
		start := time.Now()
		t.Logf("docker version: server %s (%v)", dockerCLI(t, "version", "--format", "{{.Server.Version}}"), time.Since(start))
		if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o600 || fi.Mode().Type() != os.ModeSocket {
			t.Errorf("%s: %v %v, want a socket with mode 0600", sock, fi.Mode(), err)
		}

		dockerCLI(t, "load", "-i", imageTar)
		uidMap := strings.Fields(dockerCLI(t, "run", "--rm", "--network", "none", "hvtest:1", "cat", "/proc/self/uid_map"))
		if len(uidMap) != 3 || uidMap[0] != "0" || uidMap[1] == "0" {
			t.Errorf("uid_map %q: want container root mapped away from the VM's root", uidMap)
		}
		dockerCLI(t, "volume", "create", "vol1")
		dockerCLI(t, "run", "--rm", "--network", "none", "-v", "vol1:/data", "hvtest:1", "sh", "-c", "echo kept > /data/token")
		dockerCLI(t, "run", "-d", "--name", "keeper", "--restart", "always", "--network", "none", "hvtest:1", "sh", "-c", "sleep 100000")

		// NAT: a container reaches a server on the host's loopback (QEMU's
		// host address 10.0.2.2 leads there).
		hostSrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello from the host") })}
		hostLn, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go hostSrv.Serve(hostLn)
		defer hostSrv.Close()
		hostPort := hostLn.Addr().(*net.TCPAddr).Port
		// host.docker.internal names it, through the VM's DNS server.
		got := dockerCLI(t, "run", "--rm", "hvtest:1", "sh", "-c", fmt.Sprintf(`printf 'GET / HTTP/1.0\r\n\r\n' | busybox nc -w 20 10.0.2.2 %[1]d
ip=$(busybox nslookup host.docker.internal | sed -n 's/^Address: //p' | tail -n 1)
echo "host.docker.internal=$ip"
printf 'GET / HTTP/1.0\r\n\r\n' | busybox nc -w 20 "$ip" %[1]d`, hostPort))
		if n := strings.Count(got, "hello from the host"); n != 2 || !strings.Contains(got, "host.docker.internal=10.0.2.2") {
			t.Errorf("a container asking the host's 127.0.0.1:%d at 10.0.2.2 and at host.docker.internal got %q (want the host's answer twice, and host.docker.internal=10.0.2.2)", hostPort, got)
		}

		// Published ports answer on the host's loopback while the
		// container runs, and are closed once it stops: bound to all of
		// the VM's addresses, and to its loopback only.
		web := "echo published > /tmp/index.html; (dd if=/dev/zero of=/tmp/big.part bs=1M count=64 2>/dev/null && mv /tmp/big.part /tmp/big) & exec busybox httpd -f -p 80 -h /tmp"
		for _, bind := range []string{"", "127.0.0.1:"} {
			pub := freePort(t)
			start := time.Now()
			dockerCLI(t, "run", "-d", "--name", "web", "-p", fmt.Sprintf("%s%d:80", bind, pub), "hvtest:1", "sh", "-c", web)
			returned := time.Now()
			answered := waitPublished(t, pub, "published")
			t.Logf("-p %s%d:80: first answer on the host %v after docker run -d started (%v after it returned)",
				bind, pub, answered.Sub(start).Round(time.Millisecond), answered.Sub(returned).Round(time.Millisecond))
			if bind != "" {
				transfer(t, pub)
			}
			dockerCLI(t, "rm", "-f", "web")
			waitClosed(t, pub)
		}

		// A port the host already uses: one log line, the container runs
		// on, and the host's server keeps its port.
		dockerCLI(t, "run", "-d", "--name", "clash", "-p", fmt.Sprintf("127.0.0.1:%d:80", hostPort), "hvtest:1", "sh", "-c", web)
		for deadline := time.Now().Add(10 * time.Second); !strings.Contains(runLog.String(), "port not published on the host"); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Errorf("no log line for port %d, taken on the host: %s", hostPort, runLog.String())
				break
			}
		}
		if got := dockerCLI(t, "ps", "--filter", "name=clash", "--format", "{{.Status}}"); !strings.HasPrefix(got, "Up") {
			t.Errorf("a container whose port the host holds: %q, want it running", got)
		}
		if resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(fmt.Sprintf("http://127.0.0.1:%d/", hostPort)); err != nil {
			t.Errorf("the host's server on %d: %v", hostPort, err)
		} else {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != "hello from the host" {
				t.Errorf("the host's server on %d answered %q", hostPort, b)
			}
		}
		dockerCLI(t, "rm", "-f", "clash")

		out, err := exec.Command(cli, "attest", img, "--vm", filepath.Join(state, "chan-org.hardenvm.agent.sock")).CombinedOutput()
		if err != nil {
			t.Errorf("hardenvm attest on the desktop image: %v\n%s", err, out)
		}

		stop()
		if out, err := exec.Command(e2fsck, "-fn", filepath.Join(state, "data.raw")).CombinedOutput(); err != nil {
			t.Errorf("e2fsck -fn of the data disk after SIGTERM: %v\n%s", err, out)
		}
	})
	if t.Failed() {
		return
	}

	// The second boot has no network at all: published TCP ports travel
	// over the engine channel, not QEMU's NAT.
	t.Run("second boot keeps the state", func(t *testing.T) {
		d := d
		d.extra = append(d.extra, "--network", "none")
		d.start(t)
		if got := dockerCLI(t, "images", "--format", "{{.Repository}}:{{.Tag}}"); !strings.Contains(got, "hvtest:1") {
			t.Errorf("images after a restart: %q", got)
		}
		if got := dockerCLI(t, "run", "--rm", "--network", "none", "-v", "vol1:/data", "hvtest:1", "cat", "/data/token"); got != "kept" {
			t.Errorf("the volume's file after a restart: %q", got)
		}
		pub := freePort(t)
		dockerCLI(t, "run", "-d", "--name", "web", "-p", fmt.Sprintf("127.0.0.1:%d:80", pub), "hvtest:1", "sh", "-c", "echo offline > /tmp/index.html; exec busybox httpd -f -p 80 -h /tmp")
		waitPublished(t, pub, "offline")
		dockerCLI(t, "rm", "-f", "web")
		waitClosed(t, pub)
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Second) {
			got := dockerCLI(t, "ps", "--filter", "name=keeper", "--format", "{{.Status}}")
			if strings.HasPrefix(got, "Up") {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("the --restart always container is not running after a restart: %q", got)
				break
			}
		}
	})
}

// waitPublished waits at most 5 s for the host's 127.0.0.1:pub to answer
// GET / with want, and returns when it did.
func waitPublished(t *testing.T, pub int, want string) time.Time {
	t.Helper()
	url := fmt.Sprintf("http://127.0.0.1:%d/", pub)
	start := time.Now()
	for {
		resp, err := (&http.Client{Timeout: time.Second}).Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.TrimSpace(string(b)) == want {
				return time.Now()
			}
			err = fmt.Errorf("answered %q", b)
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("published port %d: no answer within 5s (%v)", pub, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitClosed waits at most 5 s for the host's 127.0.0.1:pub to refuse
// connections.
func waitClosed(t *testing.T, pub int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", pub), time.Second)
		if err != nil {
			return
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Errorf("published port %d still open 5s after the container was removed", pub)
			return
		}
	}
}

// transfer reads the container's 64 MiB /big through the published port
// (as `curl -o /dev/null http://127.0.0.1:PORT/big` would) and logs the
// throughput.
func transfer(t *testing.T, pub int) {
	t.Helper()
	url := fmt.Sprintf("http://127.0.0.1:%d/big", pub)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		resp, err := http.Head(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Errorf("the container's 64 MiB file: not there within a minute (%v)", err)
			return
		}
	}
	start := time.Now()
	resp, err := (&http.Client{Timeout: 5 * time.Minute}).Get(url)
	if err != nil {
		t.Errorf("GET %s: %v", url, err)
		return
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	if err != nil || n != 64<<20 {
		t.Errorf("GET %s: %d bytes, %v; want 64 MiB", url, n, err)
		return
	}
	t.Logf("64 MiB through the published port in %v: %.1f MiB/s", took.Round(time.Millisecond), 64/took.Seconds())
}

// BenchmarkBootToEngineReady times the desktop image from QEMU's start to
// the engine answering: hardenvm-init says READY only once dockerd's
// /_ping does (Secure Boot, TPM, verity root, verified config, the data
// disk formatted on the first boot of each run's fresh state).
func BenchmarkBootToEngineReady(b *testing.B) {
	requireQEMU(b)
	keysDir := newKeys(b)
	img := buildDesktop(b, keysDir)
	var total time.Duration
	for range b.N {
		start := time.Now()
		m, _, _ := bootDesktop(b, img)
		total += time.Since(start)
		m.Stop()
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/engine-ready")
}
