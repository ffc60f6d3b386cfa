package bootparams

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"strings"
)

// File sharing: hardenvm run shares host directories with the VM through
// virtiofs, one vhost-user-fs device per directory, and tells the guest
// which tag goes where in a QEMU fw_cfg item. The kernel command line is
// signed and cannot carry it; fw_cfg is there before the first service
// starts, needs no host-side server, and is read-only for the guest; a
// virtiofs tag holds 36 bytes, too few for a path. The host is not
// trusted with it: stage 2 mounts a share only at a path that is allowed
// by the verified admin settings and is no VM system path.
const (
	// SharesFWCfg is the fw_cfg item's name (QEMU -fw_cfg name=…).
	SharesFWCfg = "opt/org.hardenvm/shares"
	// SharesFWCfgFile is where the qemu_fw_cfg module shows it.
	SharesFWCfgFile = "/sys/firmware/qemu_fw_cfg/by_name/" + SharesFWCfg + "/raw"
	// SharesState is where stage 2 lists the shares it mounted, for the
	// hardened runtime (a bind of a host path outside them is refused).
	SharesState = "/run/hardenvm/shares.json"
	// MaxShares bounds the share list.
	MaxShares = 64
	// ShareTagPrefix starts every share's virtiofs tag.
	ShareTagPrefix = "hvshare"
)

// Shares is the fw_cfg item, and (Host left out) the state file.
type Shares struct {
	Shares []Share `json:"shares"`
	// Host are the host's home and temporary directories, which stand
	// for $HOME and $TMP in filesharingAllowedDirectories.
	Host HostDirs `json:"host,omitzero"`
}

// HostDirs mirrors adminsettings.HostDirs (bootparams stays free of
// imports the build does not need).
type HostDirs struct {
	Home string `json:"home,omitempty"`
	Temp string `json:"temp,omitempty"`
}

// Share is one shared host directory: the virtiofs tag of its device and
// the path it has on the host, which is where the guest mounts it.
type Share struct {
	Tag  string `json:"tag"`
	Path string `json:"path"`
}

// ShareTag is the tag of the i-th share.
func ShareTag(i int) string { return fmt.Sprintf("%s%d", ShareTagPrefix, i) }

// Marshal encodes s.
func (s Shares) Marshal() ([]byte, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("bootparams: shares: %w", err)
	}
	return append(b, '\n'), nil
}

// ParseShares decodes and checks a share list.
func ParseShares(b []byte) (Shares, error) {
	var s Shares
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return Shares{}, fmt.Errorf("bootparams: shares: %w", err)
	}
	return s, s.Validate()
}

// Validate checks the form: known tags, each once; absolute, clean paths,
// each once, none inside another.
func (s Shares) Validate() error {
	if len(s.Shares) > MaxShares {
		return fmt.Errorf("bootparams: %d shares, at most %d", len(s.Shares), MaxShares)
	}
	for _, h := range []string{s.Host.Home, s.Host.Temp} {
		if h != "" && !cleanAbs(h) {
			return fmt.Errorf("bootparams: shares: host directory %q is not an absolute clean path", h)
		}
	}
	for i, a := range s.Shares {
		if a.Tag != ShareTag(i) {
			return fmt.Errorf("bootparams: share %d has tag %q, want %q", i, a.Tag, ShareTag(i))
		}
		if !cleanAbs(a.Path) || a.Path == "/" || len(a.Path) > 4096 {
			return fmt.Errorf("bootparams: share %s: path %q: want an absolute clean path other than /", a.Tag, a.Path)
		}
		for _, b := range s.Shares[:i] {
			if within(a.Path, b.Path) || within(b.Path, a.Path) {
				return fmt.Errorf("bootparams: shares %s and %s overlap (%s, %s)", b.Tag, a.Tag, b.Path, a.Path)
			}
		}
	}
	return nil
}

func cleanAbs(p string) bool {
	return strings.HasPrefix(p, "/") && path.Clean(p) == p && !strings.ContainsRune(p, 0)
}

// within reports whether p is dir or under it.
func within(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }
