package shim

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

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
