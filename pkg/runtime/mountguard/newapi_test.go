package mountguard

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func TestLoosens(t *testing.T) {
	ro := Mount{Opts: "ro,nosuid,nodev,noexec,relatime"}
	rw := Mount{Opts: "rw,nosuid"}
	for _, tt := range []struct {
		name string
		m    Mount
		clr  uint64
		want string
	}{
		{"clearing ro on a read-only mount", ro, unix.MOUNT_ATTR_RDONLY, "ro"},
		{"clearing nosuid", ro, unix.MOUNT_ATTR_NOSUID, "nosuid"},
		{"clearing ro on a writable mount: no change", rw, unix.MOUNT_ATTR_RDONLY, ""},
		{"clearing noexec it does not have", rw, unix.MOUNT_ATTR_NOEXEC, ""},
		{"an atime mode (MOUNT_ATTR__ATIME in attr_clr)", ro, unix.MOUNT_ATTR__ATIME, ""},
		{"nothing cleared", ro, 0, ""},
	} {
		got, ok := loosens(tt.m, tt.clr)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("%s: loosens = %q, %v; want %q", tt.name, got, ok, tt.want)
		}
	}
}

// readMountAttr reads struct mount_attr as copy_struct_from_user does.
func TestReadMountAttr(t *testing.T) {
	buf := make([]byte, 64)
	binary.LittleEndian.PutUint64(buf[0:], unix.MOUNT_ATTR_RDONLY)
	binary.LittleEndian.PutUint64(buf[8:], unix.MOUNT_ATTR_NOSUID)
	binary.LittleEndian.PutUint64(buf[16:], unix.MS_SLAVE)
	binary.LittleEndian.PutUint64(buf[24:], 7)
	buf[40] = 1 // a field past version 0
	p := filepath.Join(t.TempDir(), "mem")
	if err := os.WriteFile(p, buf, 0o600); err != nil {
		t.Fatal(err)
	}
	mem, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	want := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY, Attr_clr: unix.MOUNT_ATTR_NOSUID, Propagation: unix.MS_SLAVE, Userns_fd: 7}
	for _, tt := range []struct {
		addr, size uint64
		errno      unix.Errno
	}{
		{0, 32, 0},
		{0, 40, 0},            // zeros past version 0
		{0, 48, unix.E2BIG},   // a field the kernel does not know
		{0, 24, unix.EINVAL},  // shorter than version 0
		{48, 32, unix.EFAULT}, // past the end of the caller's memory
		{0, 8192, unix.E2BIG}, // larger than a page
	} {
		got, errno := readMountAttr(mem, tt.addr, tt.size)
		if errno != tt.errno || errno == 0 && got != want {
			t.Errorf("readMountAttr(%d, %d) = %+v, %v; want %+v, %v", tt.addr, tt.size, got, errno, want, tt.errno)
		}
	}
}
