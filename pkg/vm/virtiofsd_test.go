package vm

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/hardenvm/hardenvm/boot/bootparams"
	"github.com/hardenvm/hardenvm/internal/testenv"
)

func TestVirtiofsdCmd(t *testing.T) {
	c := &Config{StateDir: "/s", Shares: []Share{{HostDir: "/a"}, {HostDir: "/home/u/src", OwnerUID: 100000, OwnerGID: 100001}}}
	cmd := virtiofsdCmd(c, 1)
	args := strings.Join(cmd.Args, " ")
	for _, w := range []string{Virtiofsd + " ", "--socket-path=/s/virtiofs-1.sock", "-o source=/home/u/src", "-o sandbox=namespace"} {
		if !strings.Contains(args, w) {
			t.Errorf("virtiofsd command %q lacks %q", args, w)
		}
	}
	a := cmd.SysProcAttr
	if !a.Setpgid || a.Pdeathsig != syscall.SIGKILL || a.Cloneflags&syscall.CLONE_NEWUSER == 0 {
		t.Errorf("virtiofsd not in its own process group, user namespace, with a parent-death signal: %+v", a)
	}
	wantU := []syscall.SysProcIDMap{{ContainerID: 100000, HostID: os.Getuid(), Size: 1}}
	wantG := []syscall.SysProcIDMap{{ContainerID: 100001, HostID: os.Getgid(), Size: 1}}
	if !slices.Equal(a.UidMappings, wantU) || !slices.Equal(a.GidMappings, wantG) {
		t.Errorf("ID maps %v %v, want %v %v", a.UidMappings, a.GidMappings, wantU, wantG)
	}
}

// TestStartShares runs the real virtiofsd in its user namespace: it
// listens on its socket, the guest's share list names the directory, and
// stopping leaves no virtiofsd behind.
func TestStartShares(t *testing.T) {
	testenv.File(t, Virtiofsd, "qemu-system-common")
	state, dir := t.TempDir(), t.TempDir()
	c := &Config{StateDir: state, Kernel: "/k", Shares: []Share{{HostDir: dir, OwnerUID: 100000, OwnerGID: 100000}},
		ShareHost: bootparams.HostDirs{Home: "/home/u", Temp: "/tmp"}}
	if err := c.defaults(); err != nil {
		t.Fatal(err)
	}
	ds, err := startShares(c)
	if err != nil {
		b, _ := os.ReadFile(filepath.Join(state, "virtiofsd-0.log"))
		t.Fatalf("startShares: %v\n%s", err, b)
	}
	pid := ds[0].cmd.Process.Pid
	b, err := os.ReadFile(c.sharesFile())
	if err != nil {
		t.Fatal(err)
	}
	list, err := bootparams.ParseShares(b)
	if err != nil || len(list.Shares) != 1 || list.Shares[0].Path != dir || list.Host.Home != "/home/u" {
		t.Errorf("share list %s: %+v, %v", b, list, err)
	}
	stopAll(ds)
	select {
	case <-ds[0].done:
	default:
		t.Errorf("virtiofsd %d still running after stopAll", pid)
	}
	if err := syscall.Kill(-pid, 0); err == nil {
		t.Errorf("process group %d still exists", pid)
	}

	// A missing directory is refused before anything starts.
	c.Shares[0].HostDir = filepath.Join(dir, "missing")
	if _, err := startShares(c); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("startShares(missing dir) = %v, want 'not a directory'", err)
	}
}
