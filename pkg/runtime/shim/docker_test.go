package shim

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hardenvm/hardenvm/internal/testenv"
	"github.com/hardenvm/hardenvm/pkg/runtime"
)

// engine is a real dockerd started for a test, with the shim as its
// default runtime and first on its PATH under the name runc, so that
// --runtime=runc (a name dockerd reserves) ends at the shim too.
type engine struct {
	dir, sock, settings string
	cmd                 *exec.Cmd
	env                 []string
	image, imageID      string
	authz               *authzServer
}

func startEngine(t *testing.T, shimBin, attemptsBin string) *engine {
	t.Helper()
	testenv.Root(t)
	dockerd := testenv.Tool(t, "dockerd", "docker.io")
	docker := testenv.Tool(t, "docker", "docker.io")
	testenv.Tool(t, "containerd", "containerd")
	runc := testenv.Tool(t, "runc", "runc")
	// Short: unix socket paths under it must fit in 108 bytes.
	dir, err := os.MkdirTemp("", "hvd-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o711)
	e := &engine{dir: dir, sock: filepath.Join(dir, "docker.sock"), settings: filepath.Join(dir, "settings.json")}
	bin := filepath.Join(dir, "bin")
	os.Mkdir(bin, 0o755)
	if err := os.Symlink(shimBin, filepath.Join(bin, "runc")); err != nil {
		t.Fatal(err)
	}
	daemonJSON := fmt.Sprintf(`{"runtimes":{"hardenvm":{"path":%q}},"default-runtime":"hardenvm"}`, shimBin)
	if err := os.WriteFile(filepath.Join(dir, "daemon.json"), []byte(daemonJSON), 0o644); err != nil {
		t.Fatal(err)
	}
	e.setSettings(t, nil)
	e.env = append(os.Environ(), "DOCKER_HOST=unix://"+e.sock, "DOCKER_CONFIG="+filepath.Join(dir, "client"))
	e.authz = startAuthz(t, e)
	e.cmd = exec.Command(dockerd, "--config-file", filepath.Join(dir, "daemon.json"),
		"--authorization-plugin", e.authz.name,
		"--data-root", filepath.Join(dir, "data"), "--exec-root", filepath.Join(dir, "exec"),
		"-H", "unix://"+e.sock, "--iptables=false", "--ip6tables=false", "--bridge=none",
		"--pidfile", filepath.Join(dir, "pid"))
	e.cmd.Env = append(os.Environ(),
		"PATH="+bin+":"+os.Getenv("PATH")+":/usr/sbin:/sbin",
		EnvRuntime+"="+runc, EnvSettings+"="+e.settings, EnvState+"="+filepath.Join(dir, "state"))
	logf, err := os.Create(filepath.Join(dir, "dockerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	e.cmd.Stdout, e.cmd.Stderr = logf, logf
	e.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := e.cmd.Start(); err != nil {
		t.Fatalf("starting dockerd: %v", err)
	}
	t.Cleanup(func() { e.stop(t); logf.Close() })
	deadline := time.Now().Add(90 * time.Second)
	for {
		out, err := e.docker(t, 10*time.Second, "version", "--format", "{{.Server.Version}}")
		if err == nil {
			t.Logf("dockerd %s up", strings.TrimSpace(out))
			break
		}
		if time.Now().After(deadline) || e.cmd.ProcessState != nil {
			log, _ := os.ReadFile(filepath.Join(dir, "dockerd.log"))
			t.Fatalf("dockerd did not come up: %v\n%s", err, tail(log, 30))
		}
		time.Sleep(500 * time.Millisecond)
	}
	// The image: a busybox tree with the battery, imported (no registry).
	root := filepath.Join(dir, "image")
	for _, d := range []string{"bin", "etc", "tmp", "proc", "sys", "dev", "vol"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	os.Chmod(filepath.Join(root, "tmp"), 0o1777)
	copyFile(t, "/bin/busybox", filepath.Join(root, "bin", "busybox"), 0o755)
	copyFile(t, attemptsBin, filepath.Join(root, "attempts"), 0o755)
	for _, l := range []string{"sh", "cat", "id", "ls", "true", "sleep"} {
		os.Symlink("busybox", filepath.Join(root, "bin", l))
	}
	e.image = "hardenvm/battery:test"
	tarCmd := exec.Command("tar", "-C", root, "-c", ".")
	imp := exec.Command(docker, "import", "-", e.image)
	imp.Env = e.env
	pipe, _ := tarCmd.StdoutPipe()
	imp.Stdin = pipe
	if err := tarCmd.Start(); err != nil {
		t.Fatal(err)
	}
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("docker import: %v: %s", err, out)
	}
	tarCmd.Wait()
	id, err := e.docker(t, 30*time.Second, "image", "inspect", "--format", "{{.Id}}", e.image)
	if err != nil {
		t.Fatal(err)
	}
	e.imageID = strings.TrimSpace(id)
	return e
}

func tail(b []byte, n int) string {
	l := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// setSettings writes the shim's settings for this engine (read anew by
// every runtime call).
func (e *engine) setSettings(t *testing.T, socketImages []string) {
	t.Helper()
	s := runtime.Default()
	s.DockerRoot = filepath.Join(e.dir, "data")
	s.EngineSockets = append(s.EngineSockets, e.sock)
	s.ProtectedPaths = append(s.ProtectedPaths, filepath.Join(e.dir, "exec"))
	s.SocketImages = socketImages
	b, _ := json.Marshal(s)
	if err := os.WriteFile(e.settings, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// docker runs the client against this engine.
func (e *engine) docker(t *testing.T, timeout time.Duration, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Env = e.env
	var o, eb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &eb
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if err != nil {
		return o.String(), fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(eb.String()))
	}
	return o.String(), nil
}

// run is `docker run --rm --network none ARGS…`.
func (e *engine) run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return e.docker(t, 120*time.Second, append([]string{"run", "--rm", "--network", "none"}, args...)...)
}

// stop stops dockerd by its pid, then every process still running from
// this engine's directory (containerd, shims) by pid, then unmounts what
// is left under the directory before removing it.
func (e *engine) stop(t *testing.T) {
	if e.cmd.Process != nil && e.cmd.ProcessState == nil {
		e.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { e.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(45 * time.Second):
			e.cmd.Process.Kill()
			<-done
		}
	}
	for _, pid := range pidsUnder(e.dir) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	mounts := mountsUnder(e.dir)
	sort.Sort(sort.Reverse(sort.StringSlice(mounts)))
	for _, m := range mounts {
		unix.Unmount(m, unix.MNT_DETACH)
	}
	if left := mountsUnder(e.dir); len(left) > 0 {
		t.Errorf("mounts left under %s, not removing it: %v", e.dir, left)
		return
	}
	os.RemoveAll(e.dir)
}

// pidsUnder lists processes whose command line names dir.
func pidsUnder(dir string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && bytes.Contains(b, []byte(dir+"/")) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func mountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) > 4 && strings.HasPrefix(fs[4], dir+"/") {
			out = append(out, fs[4])
		}
	}
	return out
}

func TestDocker(t *testing.T) {
	testenv.Root(t)
	shimBin, att := build(t)
	e := startEngine(t, shimBin, att)

	uidMap := func(t *testing.T, args ...string) {
		t.Helper()
		out, err := e.run(t, append(args, e.image, "/attempts", "uid-map")...)
		if err != nil {
			t.Fatal(err)
		}
		r := results(t, out)["uid-map"]
		if r.Detail != "0 100000 65536" {
			t.Fatalf("uid_map %q, want \"0 100000 65536\"", r.Detail)
		}
	}
	t.Run("default-runtime", func(t *testing.T) { uidMap(t) })
	// The engine's reserved "runc" is refused by the authorization
	// plugin: in the desktop VM it ran the real runc (containerd's shim
	// finds runc on its own, whatever dockerd's PATH).
	t.Run("runtime=runc", func(t *testing.T) {
		out, err := e.run(t, "--runtime=runc", e.image, "/attempts", "uid-map")
		if err == nil || !strings.Contains(out+err.Error(), `the runtime "runc" (only the hardened runtime runs containers) is not allowed by the admin policy`) {
			t.Fatalf("--runtime=runc: %v: %s, want the policy's refusal", err, out)
		}
	})
	t.Run("userns=host", func(t *testing.T) { uidMap(t, "--userns=host") })

	t.Run("privileged-battery", func(t *testing.T) {
		out, err := e.run(t, "--privileged", e.image, "/attempts")
		rs := results(t, out)
		for _, a := range []string{"block-device-mount", "sysrq-trigger", "core-pattern", "release-agent", "kernel-module", "open-by-handle-at", "proc-exe-write"} {
			r, ok := rs[a]
			if !ok {
				t.Errorf("%s: no result", a)
				continue
			}
			t.Logf("%s: ok=%v: %s", a, r.OK, r.Detail)
			if r.OK {
				t.Errorf("escape %s succeeded under docker --privileged: %s", a, r.Detail)
			}
		}
		if err != nil {
			t.Errorf("battery exit: %v", err)
		}
	})
	t.Run("privileged-work", func(t *testing.T) {
		for _, a := range []string{"mount-tmpfs", "nested-userns"} {
			out, err := e.run(t, "--privileged", e.image, "/attempts", a)
			if r := results(t, out)[a]; err != nil || !r.OK {
				t.Errorf("%s under docker --privileged: %v %+v", a, err, r)
			}
		}
	})
	t.Run("read-only-stays-read-only", func(t *testing.T) {
		src := filepath.Join(e.dir, "ro-src")
		os.Mkdir(src, 0o755)
		for _, args := range [][]string{
			{"--privileged", "-v", src + ":/ro:ro", e.image, "/attempts", "remount-rw", "/ro"},
			{"--privileged", "--read-only", e.image, "/attempts", "remount-rw", "/"},
		} {
			out, _ := e.run(t, args...)
			r, ok := results(t, out)["remount-rw"]
			if !ok || r.OK {
				t.Errorf("docker run %v: %+v (output %q)", args, r, out)
			}
			t.Logf("%v: %s", args[:len(args)-3], r.Detail)
		}
	})
	t.Run("exec", func(t *testing.T) {
		name := "hvm-exec"
		if _, err := e.docker(t, 60*time.Second, "run", "-d", "--name", name, "--network", "none", e.image, "sleep", "60"); err != nil {
			t.Fatal(err)
		}
		defer e.docker(t, 60*time.Second, "rm", "-f", name)
		out, err := e.docker(t, 60*time.Second, "exec", name, "cat", "/proc/self/uid_map")
		if err != nil || strings.Join(strings.Fields(out), " ") != "0 100000 65536" {
			t.Fatalf("docker exec: %v %q", err, out)
		}
	})

	t.Run("join-namespaces-of-a-container", func(t *testing.T) {
		name := "hvm-peer"
		if _, err := e.docker(t, 60*time.Second, "run", "-d", "--name", name, "--network", "none", "--ipc", "shareable", e.image, "sleep", "60"); err != nil {
			t.Fatal(err)
		}
		defer e.docker(t, 60*time.Second, "rm", "-f", name)
		for _, mode := range [][]string{{"--network", "container:" + name}, {"--ipc", "container:" + name}, {"--pid", "container:" + name}} {
			args := append([]string{"run", "--rm"}, mode...)
			if mode[0] != "--network" {
				args = append(args, "--network", "none")
			}
			out, err := e.docker(t, 60*time.Second, append(args, e.image, "/attempts", "uid-map")...)
			if r := results(t, out)["uid-map"]; err != nil || r.Detail != "0 100000 65536" {
				t.Errorf("docker run %v: %v %+v", mode, err, r)
			}
		}
	})

	refusal := func(what, key string) string {
		return "hardenvm: " + what + " is not allowed by the admin policy (" + key + ")"
	}
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"pid=host", []string{"--pid=host"}, refusal("sharing the host's pid namespace", runtime.KeyECI)},
		{"ipc=host", []string{"--ipc=host"}, refusal("sharing the host's ipc namespace", runtime.KeyECI)},
		{"uts=host", []string{"--uts=host"}, refusal("sharing the host's uts namespace", runtime.KeyECI)},
		{"etc-docker", []string{"-v", "/etc/docker:/x"}, refusal("bind mount of the protected VM path /etc/docker", runtime.KeyECI)},
		{"engine-data", []string{"-v", filepath.Join(e.dir, "data") + ":/x"}, refusal("bind mount of the engine's data "+filepath.Join(e.dir, "data"), runtime.KeyECI)},
		// The AuthZ plugin refuses first (it names the image); the shim's own
		// check is TestEscapeEngineSocket.
		{"socket", []string{"-v", e.sock + ":/s"}, refusal("mounting the engine socket "+e.sock+" into image "+e.image, runtime.KeySocketMount)},
		{"device", []string{"--device=/dev/loop0"}, refusal("access to the host device /dev/loop0 (b 7:0)", runtime.KeyECI)},
	} {
		t.Run("refuse-"+tt.name, func(t *testing.T) {
			_, err := e.run(t, append(tt.args, e.image, "true")...)
			if err == nil {
				t.Fatalf("docker run %v succeeded", tt.args)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error does not carry the refusal:\n got %v\nwant …%s…", err, tt.want)
			}
		})
	}
	t.Run("refuse-network=host", func(t *testing.T) {
		_, err := e.docker(t, 120*time.Second, "run", "--rm", "--network", "host", e.image, "true")
		want := refusal("sharing the host's net namespace ("+filepath.Join(e.dir, "exec", "netns", "default")+")", runtime.KeyECI)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("docker run --network host: %v\nwant …%s…", err, want)
		}
	})

	t.Run("socket-allow-listed", func(t *testing.T) {
		e.setSettings(t, []string{e.imageID})
		defer e.setSettings(t, nil)
		out, err := e.run(t, "-v", e.sock+":/var/run/docker.sock", e.image, "/attempts", "engine-ping", "/var/run/docker.sock")
		if err != nil {
			t.Fatalf("allow-listed image could not use the socket: %v %+v", err, results(t, out))
		}
		t.Logf("engine API from inside: %s", results(t, out)["engine-ping"].Detail)
		// A name entry matches only images pulled from that repository:
		// a local tag with the allowed name does not count.
		e.setSettings(t, []string{"hardenvm/battery:test"})
		if _, err := e.run(t, "-v", e.sock+":/s", e.image, "true"); err == nil || !strings.Contains(err.Error(), runtime.KeySocketMount) {
			t.Fatalf("a locally tagged image matched a name entry: %v", err)
		}
	})

	t.Run("shared-volume", func(t *testing.T) {
		if _, err := e.docker(t, 30*time.Second, "volume", "create", "hvm-shared"); err != nil {
			t.Fatal(err)
		}
		defer e.docker(t, 30*time.Second, "volume", "rm", "-f", "hvm-shared")
		out, err := e.run(t, "-v", "hvm-shared:/vol", e.image, "/attempts", "chown-file", "/vol/f", "1234")
		if r := results(t, out)["chown-file"]; err != nil || !r.OK {
			t.Fatalf("first container: %v %+v", err, r)
		}
		out, err = e.run(t, "-v", "hvm-shared:/vol", e.image, "/attempts", "owner-is", "/vol/f", "1234")
		if r := results(t, out)["owner-is"]; err != nil || !r.OK {
			t.Fatalf("second container: %v %+v", err, r)
		}
	})
}
