package shim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hardenvm/hardenvm/internal/testenv"
	"github.com/hardenvm/hardenvm/pkg/runtime"
	"github.com/hardenvm/hardenvm/pkg/runtime/attempts"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Binaries built once per test run: the shim and the attempt battery.
var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

func TestMain(m *testing.M) {
	// The ID-mapped mounts' user namespace is held by a child of the
	// running binary (usernsFD): in tests, this one.
	if len(os.Args) > 1 && os.Args[1] == holdArg {
		os.Exit(hold())
	}
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	// The tests' containers lived under one parent cgroup; runc removes
	// each container's own, the empty parent goes here.
	parents, _ := filepath.Glob("/sys/fs/cgroup/*/hardenvm-test")
	for _, p := range append(parents, "/sys/fs/cgroup/hardenvm-test") {
		os.Remove(p)
	}
	os.Exit(code)
}

func build(t testing.TB) (shimBin, attemptsBin string) {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "hardenvm-shim-test-")
		if buildErr != nil {
			return
		}
		os.Chmod(buildDir, 0o755)
		for pkg, out := range map[string]string{
			"github.com/hardenvm/hardenvm/cmd/hardenvm-runc":     "hardenvm-runc",
			"github.com/hardenvm/hardenvm/cmd/hardenvm-attempts": "hardenvm-attempts",
			// The new mount API's calls, for the mount guard's tests.
			"github.com/hardenvm/hardenvm/pkg/runtime/mountguard/testdata/newmount": "newmount",
		} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(buildDir, out), pkg)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if b, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(buildDir, "hardenvm-runc"), filepath.Join(buildDir, "hardenvm-attempts")
}

// harness runs containers through the shim and the real runc, each in
// its own runc root, state directory and cgroup.
type harness struct {
	shim, attempts, runc string
	dir                  string // runc root, state, settings, logs
	settings             runtime.Settings
}

var seq atomic.Int64

func newHarness(t testing.TB) *harness {
	t.Helper()
	testenv.Root(t)
	runc := testenv.Tool(t, "runc", "runc")
	testenv.File(t, "/bin/busybox", "busybox-static")
	shimBin, att := build(t)
	dir, err := os.MkdirTemp("", "hardenvm-h-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o711)
	h := &harness{shim: shimBin, attempts: att, runc: runc, dir: dir, settings: runtime.Default()}
	h.settings.IDState = filepath.Join(dir, "idranges.json")
	return h
}

// id returns a fresh container ID for t.
func (h *harness) id(t testing.TB) string {
	n := strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
	if len(n) > 40 {
		n = n[:40]
	}
	return fmt.Sprintf("hvm-%s-%d", strings.ToLower(n), seq.Add(1))
}

// bundle makes a bundle from a Docker-generated config in
// ../testdata/docker (with the engine-specific bits replaced by test
// files) and a busybox rootfs holding the attempt battery.
func (h *harness) bundle(t testing.TB, id, config string, args []string, mutate func(*specs.Spec)) string {
	t.Helper()
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "rootfs")
	for _, d := range []string{"bin", "etc", "tmp", "proc", "sys", "dev", "vol"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(filepath.Join(rootfs, "tmp"), 0o1777)
	copyFile(t, "/bin/busybox", filepath.Join(rootfs, "bin", "busybox"), 0o755)
	copyFile(t, h.attempts, filepath.Join(rootfs, "attempts"), 0o755)
	for _, l := range []string{"sh", "cat", "id", "ls", "mount", "stat", "touch", "sleep", "chown", "unshare", "echo", "true", "mkdir", "test", "grep", "umount"} {
		os.Symlink("busybox", filepath.Join(rootfs, "bin", l))
	}
	files := filepath.Join(dir, "files")
	os.Mkdir(files, 0o755)
	for _, f := range []string{"hosts", "hostname", "resolv.conf"} {
		if err := os.WriteFile(filepath.Join(files, f), []byte("127.0.0.1 localhost\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(filepath.Join("..", "testdata", "docker", config+".json"))
	if err != nil {
		t.Fatal(err)
	}
	spec, err := runtime.ParseConfig(data)
	if err != nil {
		t.Fatal(err)
	}
	spec.Root.Path = rootfs
	spec.Hooks = nil // Docker's libnetwork-setkey hook points at the engine's pid
	spec.Process.Args = args
	spec.Process.Terminal = false
	spec.Process.Env = []string{"PATH=/bin", "HOME=/"}
	spec.Linux.CgroupsPath = "/hardenvm-test/" + id
	for i, m := range spec.Mounts {
		if strings.HasPrefix(m.Source, "/var/lib/docker/containers/") {
			spec.Mounts[i].Source = filepath.Join(files, filepath.Base(m.Source))
		}
	}
	if mutate != nil {
		mutate(spec)
	}
	b, err := json.MarshalIndent(spec, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func copyFile(t testing.TB, src, dst string, perm os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, perm); err != nil {
		t.Fatal(err)
	}
}

// global returns the runtime's global flags: ours first, then runc's.
func (h *harness) global(t testing.TB) []string {
	t.Helper()
	sp := filepath.Join(h.dir, "settings.json")
	b, _ := json.Marshal(h.settings)
	if err := os.WriteFile(sp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return []string{
		"--hardenvm-runtime", h.runc, "--hardenvm-settings", sp, "--hardenvm-state", filepath.Join(h.dir, "state"),
		"--root", filepath.Join(h.dir, "runc"), "--log", filepath.Join(h.dir, "runc.log"), "--log-format", "json",
	}
}

// runtimeCmd runs the shim (or, with bare, runc itself) with args.
func (h *harness) cmd(ctx context.Context, t testing.TB, bare bool, args ...string) *exec.Cmd {
	if bare {
		return exec.CommandContext(ctx, h.runc, append([]string{"--root", filepath.Join(h.dir, "runc")}, args...)...)
	}
	return exec.CommandContext(ctx, h.shim, append(h.global(t), args...)...)
}

// run runs a container in the foreground and returns its output and the
// runtime's exit code; the container is deleted afterwards whatever happens.
func (h *harness) run(t testing.TB, id, bundle string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	t.Cleanup(func() { h.delete(id) })
	cmd := h.cmd(ctx, t, false, "run", "--bundle", bundle, id)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("container %s did not finish in time: %s", id, e.String())
	}
	code = cmd.ProcessState.ExitCode()
	if err != nil && code < 0 {
		t.Fatalf("running the shim: %v", err)
	}
	return o.String(), e.String(), code
}

func (h *harness) delete(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	exec.CommandContext(ctx, h.shim, "--hardenvm-runtime", h.runc, "--hardenvm-state", filepath.Join(h.dir, "state"),
		"--root", filepath.Join(h.dir, "runc"), "delete", "--force", id).Run()
}

// results decodes the battery's JSON lines.
func results(t testing.TB, out string) map[string]attempts.Result {
	t.Helper()
	rs := map[string]attempts.Result{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var r attempts.Result
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("battery output %q: %v", l, err)
		}
		rs[r.Name] = r
	}
	return rs
}

// attempt runs one attempt of the battery in a fresh container made from
// config and returns its result.
func (h *harness) attempt(t testing.TB, config string, mutate func(*specs.Spec), name string, args ...string) attempts.Result {
	t.Helper()
	id := h.id(t)
	b := h.bundle(t, id, config, append([]string{"/attempts", name}, args...), mutate)
	out, errOut, code := h.run(t, id, b)
	rs := results(t, out)
	r, ok := rs[name]
	if !ok {
		t.Fatalf("attempt %s gave no result (exit %d): stdout %q stderr %q", name, code, out, errOut)
	}
	t.Logf("%s in a %s container: ok=%v: %s", name, config, r.OK, r.Detail)
	return r
}
