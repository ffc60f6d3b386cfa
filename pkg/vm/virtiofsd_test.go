package vm

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hardenvm/hardenvm/boot/bootparams"
	"github.com/hardenvm/hardenvm/internal/testenv"
)

func TestVirtiofsdCmd(t *testing.T) {
	c := &Config{StateDir: "/s", Shares: []Share{{HostDir: "/a"}, {HostDir: "/home/u/src", OwnerUID: 100000, OwnerGID: 100001}}}
	cmd := virtiofsdCmd(c, 1)
	args := strings.Join(cmd.Args, " ")
	for _, w := range []string{Virtiofsd + " ", "--fd=3", "-o source=/home/u/src", "-o sandbox=namespace"} {
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

// TestStartSharesUnprivileged runs the real virtiofsd as a user without
// privileges (as root: the test binary again, as nobody), which is how
// users run `hardenvm run --share`: it must serve a vhost-user handshake
// on its socket. Given a socket path instead of a listening descriptor,
// QEMU 7.2's virtiofsd stopped at its pid file under /var/run.
func TestStartSharesUnprivileged(t *testing.T) {
	testenv.File(t, Virtiofsd, "qemu-system-common")
	if os.Getuid() == 0 {
		runAsNobody(t, "^TestStartSharesUnprivileged$")
		return
	}
	state, dir := t.TempDir(), t.TempDir()
	c := &Config{StateDir: state, Kernel: "/k", Shares: []Share{{HostDir: dir, OwnerUID: uint32(os.Getuid()), OwnerGID: uint32(os.Getgid())}}}
	if err := c.defaults(); err != nil {
		t.Fatal(err)
	}
	ds, err := startShares(c)
	if err != nil {
		b, _ := os.ReadFile(filepath.Join(state, "virtiofsd-0.log"))
		t.Fatalf("startShares as uid %d: %v\n%s", os.Getuid(), err, b)
	}
	defer stopAll(ds)
	conn, err := net.DialTimeout("unix", c.shareSocket(0), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	// VHOST_USER_GET_FEATURES (1), protocol version 1, no payload; the
	// reply has the reply flag (0x4) and 8 bytes of features.
	req := make([]byte, 12)
	binary.LittleEndian.PutUint32(req[0:], 1)
	binary.LittleEndian.PutUint32(req[4:], 1)
	if _, err := conn.Write(req); err != nil {
		t.Fatal(err)
	}
	reply := make([]byte, 20)
	if _, err := io.ReadFull(conn, reply); err != nil {
		b, _ := os.ReadFile(filepath.Join(state, "virtiofsd-0.log"))
		t.Fatalf("no vhost-user reply: %v\n%s", err, b)
	}
	if req, flags, size := binary.LittleEndian.Uint32(reply[0:]), binary.LittleEndian.Uint32(reply[4:]), binary.LittleEndian.Uint32(reply[8:]); req != 1 || flags&0x4 == 0 || size != 8 {
		t.Errorf("vhost-user reply: request %d flags %#x size %d, want 1, reply flag, 8", req, flags, size)
	}
}

// runAsNobody runs this test binary's test named by pattern as uid and
// gid 65534 from a copy of the binary that user may execute, and fails
// with its output when it fails.
func runAsNobody(t *testing.T, pattern string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "vm-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	self, err := os.ReadFile("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "vm.test")
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(tmp, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-test.run", pattern, "-test.v")
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "TMPDIR=" + tmp, "HOME=" + tmp}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS") {
		t.Fatalf("as nobody: %v\n%s", err, out)
	}
}
