package configimage

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/hardenvm/hardenvm/pkg/adminsettings"
)

// ShareRefusal is a share the admin settings do not allow.
type ShareRefusal struct {
	Dir     string
	Allowed []string // the allowed directories, expanded
}

func (r *ShareRefusal) Error() string {
	return fmt.Sprintf("sharing %s is not allowed by the admin policy (%s: %v)", r.Dir, adminsettings.KeyFileSharing, r.Allowed)
}

// HostDirs are this host's values of $HOME and $TMP for
// filesharingAllowedDirectories.
func HostDirs() adminsettings.HostDirs {
	home, _ := os.UserHomeDir()
	if home != "" {
		home = filepath.Clean(home)
	}
	return adminsettings.HostDirs{Home: home, Temp: filepath.Clean(os.TempDir())}
}

// CheckShares resolves host directories to share with a VM whose admin
// settings are s (symlinks followed, so a link cannot lead out of an
// allowed directory) and refuses, with a *ShareRefusal, one the settings
// do not allow. The guest checks again: this is so that the user hears it
// before the VM boots.
func CheckShares(s adminsettings.Settings, dirs []string, h adminsettings.HostDirs) ([]string, error) {
	var out []string
	for _, d := range dirs {
		abs, err := filepath.Abs(d)
		if err != nil {
			return nil, fmt.Errorf("share %s: %w", d, err)
		}
		real, err := filepath.EvalSymlinks(abs)
		if err != nil {
			return nil, fmt.Errorf("share %s: %w", d, err)
		}
		if st, err := os.Stat(real); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("share %s: not a directory", d)
		}
		if real == "/" {
			return nil, fmt.Errorf("share %s: the host's whole file system cannot be shared", d)
		}
		if !s.ShareAllowed(real, h) {
			return nil, &ShareRefusal{Dir: real, Allowed: s.AllowedShareDirs(h)}
		}
		out = append(out, real)
	}
	return out, nil
}

// ShareOwner is the guest user and group that stands for the host user on
// a share: the hardened runtime's container root, so containers write
// files the user owns.
func ShareOwner(s adminsettings.Settings) (uid, gid uint32) {
	r := RuntimeSettings(s)
	return r.UIDBase, r.UIDBase
}
