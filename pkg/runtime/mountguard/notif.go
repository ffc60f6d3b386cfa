package mountguard

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The seccomp user-notification ABI (linux/seccomp.h): x/sys/unix has the
// ioctl numbers but not the structures.
type seccompData struct {
	Nr                 int32
	Arch               uint32
	InstructionPointer uint64
	Args               [6]uint64
}

type notif struct {
	ID    uint64
	Pid   uint32
	Flags uint32
	Data  seccompData
}

type notifResp struct {
	ID    uint64
	Val   int64
	Error int32
	Flags uint32
}

func recvNotif(fd int) (*notif, error) {
	var n notif // the kernel wants it zeroed
	if err := ioctl(fd, unix.SECCOMP_IOCTL_NOTIF_RECV, unsafe.Pointer(&n)); err != nil {
		return nil, err
	}
	return &n, nil
}

// reply answers a notification: errno 0 is success, cont lets the kernel
// run the call itself.
func reply(fd int, id uint64, errno unix.Errno, cont bool) error {
	r := notifResp{ID: id}
	switch {
	case cont:
		r.Flags = unix.SECCOMP_USER_NOTIF_FLAG_CONTINUE
	case errno != 0:
		r.Error = -int32(errno)
	}
	return ioctl(fd, unix.SECCOMP_IOCTL_NOTIF_SEND, unsafe.Pointer(&r))
}

// idValid reports whether the notification is still pending: the caller
// has not been interrupted or killed, so its PID still names it.
func idValid(fd int, id uint64) bool {
	return ioctl(fd, unix.SECCOMP_IOCTL_NOTIF_ID_VALID, unsafe.Pointer(&id)) == nil
}

func ioctl(fd int, req uint, arg unsafe.Pointer) error {
	for {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(arg))
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return e
		}
		return nil
	}
}

// readString reads a NUL-terminated string of at most max bytes at addr
// in the memory of pid (mem, /proc/PID/mem, opened by the caller).
func readString(mem *os.File, addr uint64, max int) (string, error) {
	if addr == 0 {
		return "", nil
	}
	buf := make([]byte, 0, 256)
	chunk := make([]byte, 256)
	for len(buf) < max {
		// Do not read across a page: the next one may be unmapped.
		n := 4096 - int((addr+uint64(len(buf)))%4096)
		if n > len(chunk) {
			n = len(chunk)
		}
		got, err := mem.ReadAt(chunk[:n], int64(addr)+int64(len(buf)))
		if got == 0 && err != nil {
			return "", fmt.Errorf("reading the caller's memory at %#x: %w", addr, err)
		}
		if i := bytes.IndexByte(chunk[:got], 0); i >= 0 {
			return string(append(buf, chunk[:i]...)), nil
		}
		buf = append(buf, chunk[:got]...)
	}
	return "", unix.ENAMETOOLONG
}

// readMountAttr reads mount_setattr's struct mount_attr of size bytes at
// addr, as the kernel would (copy_struct_from_user): at least the first
// version's 32 bytes, and any bytes past those the kernel knows zero.
func readMountAttr(mem *os.File, addr, size uint64) (unix.MountAttr, unix.Errno) {
	var a unix.MountAttr
	if size < unix.MOUNT_ATTR_SIZE_VER0 {
		return a, unix.EINVAL
	}
	if size > 4096 {
		return a, unix.E2BIG
	}
	buf := make([]byte, size)
	if n, _ := mem.ReadAt(buf, int64(addr)); n != len(buf) {
		return a, unix.EFAULT
	}
	for _, b := range buf[unix.MOUNT_ATTR_SIZE_VER0:] {
		if b != 0 {
			return a, unix.E2BIG
		}
	}
	le := binary.LittleEndian
	a.Attr_set, a.Attr_clr = le.Uint64(buf[0:]), le.Uint64(buf[8:])
	a.Propagation, a.Userns_fd = le.Uint64(buf[16:]), le.Uint64(buf[24:])
	return a, 0
}
