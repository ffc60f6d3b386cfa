package shim

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hardenvm/hardenvm/internal/testenv"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestUnifiedPath(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"0::/docker/abc\n", "/docker/abc", true},
		{"12:pids:/docker/abc\n1:name=systemd:/x\n0::/docker/abc\n", "/docker/abc", true},
		{"0::/\n", "", false},                // the VM's own root cgroup
		{"12:pids:/docker/abc\n", "", false}, // cgroup v1 only
	}
	for _, tt := range tests {
		got, err := unifiedPath(strings.NewReader(tt.in))
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("unifiedPath(%q) = %q, %v, want %q (ok %v)", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// TestDelegate chowns a cgroup directory and exactly its delegated files.
func TestDelegate(t *testing.T) {
	testenv.Root(t)
	dir := t.TempDir()
	for _, f := range []string{"cgroup.procs", "cgroup.threads", "cgroup.subtree_control", "memory.max"} {
		os.WriteFile(filepath.Join(dir, f), nil, 0o644)
	}
	if err := delegate(dir, 100000, 100001); err != nil {
		t.Fatal(err)
	}
	for f, want := range map[string]uint32{"": 100000, "cgroup.procs": 100000, "cgroup.threads": 100000, "cgroup.subtree_control": 100000, "memory.max": 0} {
		var st unix.Stat_t
		unix.Stat(filepath.Join(dir, f), &st)
		if st.Uid != want {
			t.Errorf("%q owned by %d, want %d", f, st.Uid, want)
		}
	}
}

func TestAddDelegateHookOnce(t *testing.T) {
	if !cgroup2() {
		t.Skip("cgroup v1 here: no hook is added")
	}
	spec := &specs.Spec{Linux: &specs.Linux{
		UIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}},
		GIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}},
	}}
	addDelegateHook(spec, "/usr/local/sbin/runc")
	addDelegateHook(spec, "/usr/local/sbin/runc")
	if n := len(spec.Hooks.CreateRuntime); n != 1 {
		t.Fatalf("%d hooks, want 1", n)
	}
	if got := strings.Join(spec.Hooks.CreateRuntime[0].Args, " "); got != "/usr/local/sbin/runc "+delegateArg+" 100000 100000" {
		t.Errorf("hook args %q", got)
	}
}

// unifiedRoot points cgroupRoot at a cgroup v2 mount for the test: the
// VM's /sys/fs/cgroup, or a hybrid host's /sys/fs/cgroup/unified.
func unifiedRoot(t *testing.T) {
	t.Helper()
	old := cgroupRoot
	t.Cleanup(func() { cgroupRoot = old })
	for _, p := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		cgroupRoot = p
		if cgroup2() {
			return
		}
	}
	t.Fatal("no cgroup v2 mount at /sys/fs/cgroup or /sys/fs/cgroup/unified")
}

// TestDelegation: containerd's create (with --pid-file) is delegated by
// the shim after runc created the container, with no hook (a stale one
// from an earlier hardening removed); run, and create without a pid
// file, get the hook.
func TestDelegation(t *testing.T) {
	unifiedRoot(t)
	stale := specs.Hook{Path: "/shim", Args: []string{"/shim", delegateArg, "1", "1"}}
	other := specs.Hook{Path: "/other"}
	tests := []struct {
		name      string
		argv      []string
		want      *owner
		wantHooks int // delegation hooks left in the spec
	}{
		{"create with pid file", []string{"create", "--bundle", "/b", "--pid-file", "/p", "id1"}, &owner{100000, 100001}, 0},
		{"create with pid file=", []string{"create", "--pid-file=/p", "id1"}, &owner{100000, 100001}, 0},
		{"create without pid file", []string{"create", "--bundle", "/b", "id1"}, nil, 1},
		{"run", []string{"run", "--pid-file", "/p", "id1"}, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseCmdline(tt.argv)
			if err != nil {
				t.Fatal(err)
			}
			spec := &specs.Spec{Linux: &specs.Linux{
				UIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}},
				GIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100001, Size: 65536}},
			}, Hooks: &specs.Hooks{CreateRuntime: []specs.Hook{stale, other}}}
			got := delegation(c, spec, "/shim")
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(owner{})); diff != "" {
				t.Errorf("delegation: diff (-want +got):\n%s", diff)
			}
			n := 0
			for _, h := range spec.Hooks.CreateRuntime {
				if len(h.Args) > 1 && h.Args[1] == delegateArg {
					n++
				}
			}
			if n != tt.wantHooks || !slices.ContainsFunc(spec.Hooks.CreateRuntime, func(h specs.Hook) bool { return h.Path == "/other" }) {
				t.Errorf("hooks after delegation: %+v, want %d delegation hooks and the engine's own", spec.Hooks.CreateRuntime, tt.wantHooks)
			}
		})
	}
}

// TestDelegateCreated delegates the cgroup of a process named by a pid
// file, as after runc create, and refuses a pid file without a pid.
func TestDelegateCreated(t *testing.T) {
	testenv.Root(t)
	unifiedRoot(t)
	cg := filepath.Join(cgroupRoot, "hardenvm-test-delegate")
	if err := os.Mkdir(cg, 0o755); err != nil {
		t.Fatal(err)
	}
	sleep := exec.Command("sleep", "60")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sleep.Process.Kill()
		sleep.Wait()
		os.Remove(cg)
	})
	if err := os.WriteFile(filepath.Join(cg, "cgroup.procs"), []byte(strconv.Itoa(sleep.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	os.WriteFile(pidFile, []byte(strconv.Itoa(sleep.Process.Pid)), 0o644)
	if err := delegateCreated(pidFile, owner{100000, 100001}); err != nil {
		t.Fatal(err)
	}
	for f, want := range map[string][2]uint32{"": {100000, 100001}, "cgroup.procs": {100000, 100001}, "cgroup.subtree_control": {100000, 100001}, "cgroup.max.depth": {0, 0}} {
		var st unix.Stat_t
		if err := unix.Stat(filepath.Join(cg, f), &st); err != nil {
			t.Fatal(err)
		}
		if got := [2]uint32{st.Uid, st.Gid}; got != want {
			t.Errorf("%q owned by %v, want %v", f, got, want)
		}
	}
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o644)
	if err := delegateCreated(empty, owner{100000, 100001}); err == nil {
		t.Error("delegateCreated with an empty pid file: no error")
	}
}
