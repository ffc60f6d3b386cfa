package imagespec

import (
	"encoding/binary"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// capNames are the Linux capabilities by number (include/uapi/linux/capability.h, Linux 6.12).
var capNames = []string{
	"chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid",
	"setpcap", "linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw",
	"ipc_lock", "ipc_owner", "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct",
	"sys_admin", "sys_boot", "sys_nice", "sys_resource", "sys_time", "sys_tty_config", "mknod",
	"lease", "audit_write", "audit_control", "setfcap", "mac_override", "mac_admin", "syslog",
	"wake_alarm", "block_suspend", "audit_read", "perfmon", "bpf", "checkpoint_restore",
}

// CapSet is a file capability set, written in the libcap text form that
// setcap(8) takes: clauses like "cap_net_raw,cap_net_admin+ep", separated
// by spaces, with operators =, + and - and flags e, i and p. "all" names
// every capability. File capabilities have one effective bit, so "e" must
// cover every permitted or inheritable capability or none of them.
type CapSet struct {
	Permitted   uint64
	Inheritable uint64
	Effective   bool
	text        string
}

func (c CapSet) String() string { return c.text }

func (c *CapSet) unmarshalNode(n *yaml.Node) error {
	p, err := ParseCaps(n.Value)
	if err != nil {
		return err
	}
	*c = p
	return nil
}

// ParseCaps parses the libcap text form of a file capability set.
func ParseCaps(s string) (CapSet, error) {
	var c CapSet
	var eff uint64
	all := uint64(1)<<len(capNames) - 1
	clauses := strings.Fields(s)
	if len(clauses) == 0 {
		return c, fmt.Errorf("empty capability set: want e.g. \"cap_net_bind_service=ep\"")
	}
	for _, cl := range clauses {
		i := strings.IndexAny(cl, "=+-")
		if i < 0 {
			return c, fmt.Errorf("%q: want names, an operator (=, + or -) and flags (e, i, p)", cl)
		}
		var bits uint64
		if i == 0 || cl[:i] == "all" {
			bits = all // "=ep" and "all=ep" both mean every capability
		} else {
			for name := range strings.SplitSeq(cl[:i], ",") {
				n := capNumber(name)
				if n < 0 {
					return c, fmt.Errorf("%q is not a Linux capability (like cap_net_raw)", name)
				}
				bits |= 1 << n
			}
		}
		// Operator/flag groups may repeat: "cap_x=p+e".
		rest := cl[i:]
		for rest != "" {
			op := rest[0]
			j := 1
			for j < len(rest) && strings.IndexByte("=+-", rest[j]) < 0 {
				j++
			}
			flags := rest[1:j]
			rest = rest[j:]
			if strings.Trim(flags, "eip") != "" {
				return c, fmt.Errorf("%q: flags are e, i and p", cl)
			}
			if op == '=' {
				c.Permitted &^= bits
				c.Inheritable &^= bits
				eff &^= bits
			}
			for _, f := range flags {
				set := map[rune]*uint64{'p': &c.Permitted, 'i': &c.Inheritable, 'e': &eff}[f]
				if op == '-' {
					*set &^= bits
				} else {
					*set |= bits
				}
			}
		}
	}
	if eff != 0 && eff != c.Permitted|c.Inheritable {
		return c, fmt.Errorf("%q: file capabilities have a single effective bit: give \"e\" to all of them or none", s)
	}
	c.Effective = eff != 0
	c.text = s
	return c, nil
}

func capNumber(name string) int {
	n := strings.TrimPrefix(strings.ToLower(name), "cap_")
	for i, c := range capNames {
		if c == n {
			return i
		}
	}
	return -1
}

// XattrValue encodes c as the value of the security.capability extended
// attribute (struct vfs_cap_data, revision 2, little-endian), which is what
// setcap writes for a file owned by the initial user namespace.
func (c CapSet) XattrValue() []byte {
	const revision2, effective = 0x02000000, 0x000001
	b := make([]byte, 20)
	magic := uint32(revision2)
	if c.Effective {
		magic |= effective
	}
	binary.LittleEndian.PutUint32(b[0:], magic)
	binary.LittleEndian.PutUint32(b[4:], uint32(c.Permitted))
	binary.LittleEndian.PutUint32(b[8:], uint32(c.Inheritable))
	binary.LittleEndian.PutUint32(b[12:], uint32(c.Permitted>>32))
	binary.LittleEndian.PutUint32(b[16:], uint32(c.Inheritable>>32))
	return b
}
