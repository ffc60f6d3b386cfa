package fstree

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"strings"
)

// XattrCapability is the attribute the kernel reads file capabilities from.
const XattrCapability = "security.capability"

// capNames are the Linux capability names (linux/capability.h) by number.
var capNames = [...]string{
	"chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill",
	"setgid", "setuid", "setpcap", "linux_immutable", "net_bind_service",
	"net_broadcast", "net_admin", "net_raw", "ipc_lock", "ipc_owner",
	"sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct",
	"sys_admin", "sys_boot", "sys_nice", "sys_resource", "sys_time",
	"sys_tty_config", "mknod", "lease", "audit_write", "audit_control",
	"setfcap", "mac_override", "mac_admin", "syslog", "wake_alarm",
	"block_suspend", "audit_read", "perfmon", "bpf", "checkpoint_restore",
}

// Capability is a file capability set, stored in the security.capability
// attribute as struct vfs_cap_data: revision 2, or revision 3 when RootID
// is set (a capability that applies only in a user namespace whose root
// maps to RootID).
type Capability struct {
	Permitted   uint64 // bit n = capability n
	Inheritable uint64
	Effective   bool // raise the permitted set into the effective set at exec
	RootID      *uint32
}

const (
	vfsCapRevision2 = 0x02000000
	vfsCapRevision3 = 0x03000000
	vfsCapEffective = 0x000001
)

// Encode returns the security.capability value.
func (c Capability) Encode() []byte {
	n, magic := 20, uint32(vfsCapRevision2)
	if c.RootID != nil {
		n, magic = 24, vfsCapRevision3
	}
	if c.Effective {
		magic |= vfsCapEffective
	}
	b := make([]byte, n)
	binary.LittleEndian.PutUint32(b[0:], magic)
	binary.LittleEndian.PutUint32(b[4:], uint32(c.Permitted))
	binary.LittleEndian.PutUint32(b[8:], uint32(c.Inheritable))
	binary.LittleEndian.PutUint32(b[12:], uint32(c.Permitted>>32))
	binary.LittleEndian.PutUint32(b[16:], uint32(c.Inheritable>>32))
	if c.RootID != nil {
		binary.LittleEndian.PutUint32(b[20:], *c.RootID)
	}
	return b
}

// DecodeCapability parses a security.capability value (revision 2 or 3).
func DecodeCapability(b []byte) (Capability, error) {
	if len(b) < 4 {
		return Capability{}, errors.New("capability: value too short")
	}
	magic := binary.LittleEndian.Uint32(b)
	var c Capability
	switch {
	case magic&0xff000000 == vfsCapRevision2 && len(b) == 20:
	case magic&0xff000000 == vfsCapRevision3 && len(b) == 24:
		id := binary.LittleEndian.Uint32(b[20:])
		c.RootID = &id
	default:
		return Capability{}, fmt.Errorf("capability: unsupported revision %#x with %d bytes", magic>>24, len(b))
	}
	if magic&0x00ffffff&^vfsCapEffective != 0 {
		return Capability{}, fmt.Errorf("capability: unknown flags %#x", magic&0x00ffffff)
	}
	c.Effective = magic&vfsCapEffective != 0
	c.Permitted = uint64(binary.LittleEndian.Uint32(b[4:])) | uint64(binary.LittleEndian.Uint32(b[12:]))<<32
	c.Inheritable = uint64(binary.LittleEndian.Uint32(b[8:])) | uint64(binary.LittleEndian.Uint32(b[16:]))<<32
	return c, nil
}

// String renders c in the setcap/getcap text form, e.g. "cap_net_raw=ep".
func (c Capability) String() string {
	var clauses []string
	for _, set := range []struct {
		mask  uint64
		flags string
	}{
		{c.Permitted & c.Inheritable, "ip"},
		{c.Permitted &^ c.Inheritable, "p"},
		{c.Inheritable &^ c.Permitted, "i"},
	} {
		if set.mask == 0 {
			continue
		}
		var names []string
		for m := set.mask; m != 0; m &= m - 1 {
			i := bits.TrailingZeros64(m)
			if i < len(capNames) {
				names = append(names, "cap_"+capNames[i])
			} else {
				names = append(names, fmt.Sprint(i))
			}
		}
		flags := set.flags
		if c.Effective {
			flags = "e" + flags
		}
		clauses = append(clauses, strings.Join(names, ",")+"="+flags)
	}
	if c.RootID != nil {
		clauses = append(clauses, fmt.Sprintf("[rootid=%d]", *c.RootID))
	}
	return strings.Join(clauses, " ")
}

// ParseCapability reads the setcap text form: space-separated clauses
// "NAMES=FLAGS", "NAMES+FLAGS" or "NAMES-FLAGS", NAMES a comma list of
// capability names (with or without "cap_", any case) or "all", FLAGS
// letters of "eip". File capabilities have one effective bit, so the
// effective set must be empty or equal to permitted|inheritable.
func ParseCapability(s string) (Capability, error) {
	var perm, inh, eff uint64
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return Capability{}, errors.New("capability: empty")
	}
	for _, clause := range fields {
		i := strings.IndexAny(clause, "=+-")
		if i <= 0 {
			return Capability{}, fmt.Errorf("capability: %q: want NAMES=FLAGS (e.g. cap_net_raw=ep)", clause)
		}
		var mask uint64
		for _, name := range strings.Split(clause[:i], ",") {
			m, err := capMask(name)
			if err != nil {
				return Capability{}, err
			}
			mask |= m
		}
		op, flags := clause[i], clause[i+1:]
		if op == '=' {
			perm, inh, eff = perm&^mask, inh&^mask, eff&^mask
		}
		for _, f := range flags {
			var set *uint64
			switch f {
			case 'e':
				set = &eff
			case 'i':
				set = &inh
			case 'p':
				set = &perm
			default:
				return Capability{}, fmt.Errorf("capability: %q: unknown flag %q (want e, i, p)", clause, f)
			}
			if op == '-' {
				*set &^= mask
			} else {
				*set |= mask
			}
		}
	}
	if eff != 0 && eff != perm|inh {
		return Capability{}, fmt.Errorf("capability: %q: file capabilities have one effective bit: mark every capability e, or none", s)
	}
	return Capability{Permitted: perm, Inheritable: inh, Effective: eff != 0}, nil
}

func capMask(name string) (uint64, error) {
	n := strings.ToLower(name)
	if n == "all" {
		return 1<<len(capNames) - 1, nil
	}
	n = strings.TrimPrefix(n, "cap_")
	for i, c := range capNames {
		if c == n {
			return 1 << i, nil
		}
	}
	return 0, fmt.Errorf("capability: unknown capability %q", name)
}

// SetCapability sets p's file capabilities (the security.capability
// attribute). The kernel honours them only on regular files.
func (t *Tree) SetCapability(p string, c Capability) error {
	n, err := t.Lookup(p)
	if err != nil {
		return err
	}
	if n.Type != Regular {
		return &PathError{"setcap", p, fmt.Errorf("is a %s, not a regular file", n.Type)}
	}
	return t.SetXattr(p, XattrCapability, c.Encode())
}
