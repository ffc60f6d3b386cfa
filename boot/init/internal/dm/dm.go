// Package dm talks to the kernel's device mapper through its ioctls on
// /dev/mapper/control (include/uapi/linux/dm-ioctl.h, interface version
// 4), so hardenvm-init can map a dm-verity device without dmsetup or
// libdevmapper. It implements the four calls that takes (create, load a
// table, resume, remove) and reading a table back.
package dm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ControlPath is the device mapper's control node (devtmpfs creates it
// when dm_mod loads).
const ControlPath = "/dev/mapper/control"

// Target is one line of a device-mapper table.
type Target struct {
	Start, Length uint64 // in 512-byte sectors
	Type          string // "verity"
	Params        string
}

// Control is an open control node.
type Control struct{ f *os.File }

// Open opens the control node.
func Open() (*Control, error) {
	f, err := os.OpenFile(ControlPath, os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("dm: %w", err)
	}
	return &Control{f}, nil
}

func (c *Control) Close() error { return c.f.Close() }

// Layout of struct dm_ioctl and struct dm_target_spec.
const (
	headerSize = unix.SizeofDmIoctl      // 312
	specSize   = unix.SizeofDmTargetSpec // 40
	offDataSz  = 12
	offDataSt  = 16
	offTargets = 20
	offFlags   = 28
	offDev     = 40
	offName    = 48
	offUUID    = 176
)

var le = binary.LittleEndian

// header returns a dm_ioctl buffer of size bytes for the named device.
func header(size int, name, uuid string, flags uint32) ([]byte, error) {
	if len(name) == 0 || len(name) >= unix.DM_NAME_LEN {
		return nil, fmt.Errorf("dm: device name %q: want 1 to %d bytes", name, unix.DM_NAME_LEN-1)
	}
	if len(uuid) >= unix.DM_UUID_LEN {
		return nil, fmt.Errorf("dm: uuid %q longer than %d bytes", uuid, unix.DM_UUID_LEN-1)
	}
	b := make([]byte, size)
	le.PutUint32(b[0:], unix.DM_VERSION_MAJOR)
	le.PutUint32(b[4:], 0)
	le.PutUint32(b[8:], 0)
	le.PutUint32(b[offDataSz:], uint32(size))
	le.PutUint32(b[offDataSt:], headerSize)
	le.PutUint32(b[offFlags:], flags)
	copy(b[offName:], name)
	copy(b[offUUID:], uuid)
	return b, nil
}

func (c *Control) ioctl(req uintptr, b []byte) error {
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, c.f.Fd(), req, uintptr(unsafe.Pointer(&b[0])))
	if errno != 0 {
		return errno
	}
	return nil
}

// Create creates the device name with the given DM uuid and returns its
// device number (as unix.Major/unix.Minor decode it).
func (c *Control) Create(name, uuid string) (uint64, error) {
	b, err := header(headerSize, name, uuid, 0)
	if err != nil {
		return 0, err
	}
	if err := c.ioctl(unix.DM_DEV_CREATE, b); err != nil {
		return 0, fmt.Errorf("dm: creating %s: %w", name, err)
	}
	return le.Uint64(b[offDev:]), nil
}

// LoadTable marshals the DM_TABLE_LOAD buffer for name.
func LoadTable(name string, readOnly bool, targets []Target) ([]byte, error) {
	if len(targets) == 0 {
		return nil, errors.New("dm: a table needs at least one target")
	}
	var data bytes.Buffer
	for i, t := range targets {
		if len(t.Type) == 0 || len(t.Type) >= unix.DM_MAX_TYPE_NAME {
			return nil, fmt.Errorf("dm: target type %q", t.Type)
		}
		if bytes.IndexByte([]byte(t.Params), 0) >= 0 {
			return nil, errors.New("dm: target parameters contain NUL")
		}
		n := (specSize + len(t.Params) + 1 + 7) &^ 7
		spec := make([]byte, n)
		le.PutUint64(spec[0:], t.Start)
		le.PutUint64(spec[8:], t.Length)
		if i < len(targets)-1 {
			le.PutUint32(spec[20:], uint32(n)) // next: from this spec to the next
		}
		copy(spec[24:40], t.Type)
		copy(spec[specSize:], t.Params)
		data.Write(spec)
	}
	var flags uint32
	if readOnly {
		flags |= unix.DM_READONLY_FLAG
	}
	b, err := header(headerSize+data.Len(), name, "", flags)
	if err != nil {
		return nil, err
	}
	le.PutUint32(b[offTargets:], uint32(len(targets)))
	copy(b[headerSize:], data.Bytes())
	return b, nil
}

// Load loads targets as the inactive table of name.
func (c *Control) Load(name string, readOnly bool, targets []Target) error {
	b, err := LoadTable(name, readOnly, targets)
	if err != nil {
		return err
	}
	if err := c.ioctl(unix.DM_TABLE_LOAD, b); err != nil {
		return fmt.Errorf("dm: loading the table of %s: %w", name, err)
	}
	return nil
}

// Resume makes the loaded table live.
func (c *Control) Resume(name string) error {
	b, err := header(headerSize, name, "", 0)
	if err != nil {
		return err
	}
	if err := c.ioctl(unix.DM_DEV_SUSPEND, b); err != nil {
		return fmt.Errorf("dm: resuming %s: %w", name, err)
	}
	return nil
}

// Remove removes the device.
func (c *Control) Remove(name string) error {
	b, err := header(headerSize, name, "", 0)
	if err != nil {
		return err
	}
	if err := c.ioctl(unix.DM_DEV_REMOVE, b); err != nil {
		return fmt.Errorf("dm: removing %s: %w", name, err)
	}
	return nil
}

// Table reads the live table of name back from the kernel, as the kernel
// prints it (dmsetup table).
func (c *Control) Table(name string) ([]Target, error) {
	for size := 16 << 10; size <= 1<<20; size *= 4 {
		b, err := header(size, name, "", unix.DM_STATUS_TABLE_FLAG)
		if err != nil {
			return nil, err
		}
		if err := c.ioctl(unix.DM_TABLE_STATUS, b); err != nil {
			return nil, fmt.Errorf("dm: reading the table of %s: %w", name, err)
		}
		if le.Uint32(b[offFlags:])&unix.DM_BUFFER_FULL_FLAG != 0 {
			continue
		}
		return ParseStatus(b)
	}
	return nil, fmt.Errorf("dm: the table of %s does not fit 1 MiB", name)
}

// ParseStatus decodes the targets of a DM_TABLE_STATUS answer. In
// answers, unlike in DM_TABLE_LOAD, each spec's next field counts from the
// start of the data area.
func ParseStatus(b []byte) ([]Target, error) {
	if len(b) < headerSize {
		return nil, errors.New("dm: short answer")
	}
	start := int(le.Uint32(b[offDataSt:]))
	size := int(le.Uint32(b[offDataSz:]))
	n := int(le.Uint32(b[offTargets:]))
	if start < headerSize || size > len(b) || start > size {
		return nil, errors.New("dm: malformed answer")
	}
	data := b[start:size]
	if n > len(data)/specSize {
		return nil, fmt.Errorf("dm: answer claims %d targets in %d bytes", n, len(data))
	}
	var out []Target
	off := 0
	for i := 0; i < n; i++ {
		if off+specSize > len(data) {
			return nil, errors.New("dm: answer's target list runs past its buffer")
		}
		s := data[off:]
		t := Target{Start: le.Uint64(s[0:]), Length: le.Uint64(s[8:]), Type: cstring(s[24:40])}
		t.Params = cstring(s[specSize:])
		out = append(out, t)
		next := int(le.Uint32(s[20:]))
		if i < n-1 && next <= off {
			return nil, errors.New("dm: answer's target list does not move forward")
		}
		off = next
	}
	return out, nil
}

func cstring(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return string(b[:i])
	}
	return string(b)
}
