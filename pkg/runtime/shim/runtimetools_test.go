package shim

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hardenvm/hardenvm/internal/testenv"
)

// runtimeTools is the opencontainers/runtime-tools revision whose
// validation suite runs against the shim (built from the Go module; its
// rootfs tarball ships in the module).
const runtimeTools = "github.com/opencontainers/runtime-tools@v0.9.1-0.20260316125833-8a4db579f5c8"

// validations that apply to a hardened runtime. Left out, with the reason:
//   - linux_ns_itype, linux_ns_path: share the host's namespaces, or join
//     namespaces of a process in the host's user namespace (refused, or a
//     fresh user namespace cannot mount /dev/mqueue there);
//   - mounts: bind-mounts /etc (a protected VM path);
//   - linux_cgroups_*, hooks*, poststart*, prestart*, poststop*: cgroup
//     v1 controllers and host hooks this machine's runc and policy do not
//     change; they test runc, not the shim.
var validations = []string{
	"create", "default", "delete", "hostname", "kill", "killsig", "state", "start", "pidfile",
	"process", "process_capabilities", "process_user", "linux_masked_paths",
	"linux_readonly_paths", "linux_sysctl", "linux_uid_mappings", "linux_ns_nopath", "misc_props",
}

// buildRuntimeTools builds runtimetest and the validation programs into a
// directory that also holds the rootfs tarball (the programs look for both
// in their working directory).
func buildRuntimeTools(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		testenv.Missing(t, "go", "golang-go")
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, goBin, "mod", "download", "-json", runtimeTools).Output()
	if err != nil {
		t.Fatalf("go mod download %s: %v", runtimeTools, err)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download: %v %s", err, out)
	}
	src := filepath.Join(dir, "src")
	if b, err := exec.Command("cp", "-r", mod.Dir, src).CombinedOutput(); err != nil {
		t.Fatalf("copy: %v %s", err, b)
	}
	exec.Command("chmod", "-R", "u+w", src).Run()
	os.RemoveAll(filepath.Join(src, "vendor")) // module zips carry no vendored code
	bin := filepath.Join(dir, "bin")
	pkgs := []string{"./cmd/runtimetest"}
	for _, v := range validations {
		pkgs = append(pkgs, "./validation/"+v)
	}
	for _, p := range pkgs {
		name := filepath.Base(p)
		if name != "runtimetest" {
			name += ".t"
		}
		cmd := exec.CommandContext(ctx, goBin, "build", "-mod=mod", "-o", filepath.Join(bin, name), p)
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("building %s: %v\n%s", p, err, b)
		}
	}
	tarball, _ := os.ReadFile(filepath.Join(src, "rootfs-amd64.tar.gz"))
	if err := os.WriteFile(filepath.Join(bin, "rootfs-amd64.tar.gz"), tarball, 0o644); err != nil {
		t.Fatal(err)
	}
	return bin
}

// TestRuntimeToolsValidation runs the applicable runtime-tools validations
// with bare runc and through the shim: whatever passes with runc must pass
// through the shim (runc 1.1's own failures are logged, not counted).
func TestRuntimeToolsValidation(t *testing.T) {
	if testing.Short() {
		t.Skip("builds runtime-tools: not in -short")
	}
	h := newHarness(t)
	bin := buildRuntimeTools(t)
	run := func(runtime, v string) (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, filepath.Join(bin, v+".t"))
		cmd.Dir = bin
		cmd.Env = append(os.Environ(), "RUNTIME="+runtime, EnvRuntime+"="+h.runc, EnvState+"="+filepath.Join(h.dir, "state"))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		cmd.WaitDelay = 5 * time.Second
		err := cmd.Run()
		var failed []string
		for _, l := range strings.Split(out.String(), "\n") {
			if strings.HasPrefix(l, "not ok") {
				failed = append(failed, l)
			}
		}
		return err == nil && len(failed) == 0 && strings.Contains(out.String(), "\nok "), strings.Join(failed, "; ") + tailOf(out.String())
	}
	for _, v := range validations {
		t.Run(v, func(t *testing.T) {
			okRunc, whyRunc := run(h.runc, v)
			if !okRunc {
				t.Logf("fails with bare runc too, not counted: %s", whyRunc)
				return
			}
			okShim, whyShim := run(h.shim, v)
			if !okShim {
				// Lifecycle validations race container exit; one retry.
				if okShim, whyShim = run(h.shim, v); !okShim {
					t.Fatalf("passes with runc, fails through the shim: %s", whyShim)
				}
			}
		})
	}
}

func tailOf(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 600 {
		s = "…" + s[len(s)-600:]
	}
	return " | " + s
}
