package adminsettings

import (
	"fmt"
	"path"
	"strings"
)

// KeyFileSharing is the settings key that limits file sharing, named in
// every refusal of a share or of a bind mount of an unshared host path.
const KeyFileSharing = "filesharingAllowedDirectories"

// SharedDirectory is an entry of filesharingAllowedDirectories, as Docker
// Desktop writes it.
type SharedDirectory struct {
	// Path is absolute or starts with one of the variables $HOME, $TMP,
	// $TEMP, which stand for the host's home and temporary directories.
	Path string `json:"path"`
	// SharedByDefault makes Docker Desktop share the directory on its
	// first start; hardenvm run shares only what --share names, so it is
	// accepted and has no effect.
	SharedByDefault bool `json:"sharedByDefault"`
}

// HostDirs are the host's values of the path variables. The host (hardenvm
// run) fills them from its environment; the guest init gets them from the
// host with the share list.
type HostDirs struct {
	Home string `json:"home,omitempty"` // $HOME
	Temp string `json:"temp,omitempty"` // $TMP and $TEMP
}

// sharingVars are the variables a path may start with.
var sharingVars = []string{"$HOME", "$TMP", "$TEMP"}

func validateSharing(dirs []SharedDirectory) []Problem {
	var ps []Problem
	for i, d := range dirs {
		key := fmt.Sprintf("%s[%d].path", KeyFileSharing, i)
		rest, v := d.Path, ""
		for _, sv := range sharingVars {
			if rest == sv || strings.HasPrefix(rest, sv+"/") {
				rest, v = strings.TrimPrefix(rest, sv), sv
				if rest == "" {
					rest = "/"
				}
				break
			}
		}
		switch {
		case strings.HasPrefix(rest, "$"):
			ps = append(ps, Problem{key, fmt.Sprintf("%q: the only variables are $HOME, $TMP and $TEMP", d.Path)})
		case !strings.HasPrefix(rest, "/"):
			ps = append(ps, Problem{key, fmt.Sprintf("%q: want an absolute path (or one starting with $HOME, $TMP or $TEMP)", d.Path)})
		case v == "" && rest == "/":
			ps = append(ps, Problem{key, fmt.Sprintf("%q would allow sharing the whole host: leave %s out to allow any directory", d.Path, KeyFileSharing)})
		case path.Clean(rest) != rest && path.Clean(rest)+"/" != rest:
			ps = append(ps, Problem{key, fmt.Sprintf("%q: want a clean path (no //, . or .. components)", d.Path)})
		}
	}
	return ps
}

// AllowedShareDirs returns the host directories that may be shared, the
// variables replaced by h's values, or nil when the settings set no limit.
// An entry whose variable h leaves empty allows nothing.
func (s Settings) AllowedShareDirs(h HostDirs) []string {
	if s.FilesharingAllowedDirectories == nil {
		return nil
	}
	out := []string{}
	for _, d := range s.FilesharingAllowedDirectories {
		p := d.Path
		for _, v := range []struct{ name, val string }{{"$HOME", h.Home}, {"$TMP", h.Temp}, {"$TEMP", h.Temp}} {
			if p == v.name || strings.HasPrefix(p, v.name+"/") {
				if v.val == "" || !strings.HasPrefix(v.val, "/") {
					p = ""
					break
				}
				p = v.val + strings.TrimPrefix(p, v.name)
			}
		}
		if p != "" {
			out = append(out, path.Clean(p))
		}
	}
	return out
}

// ShareAllowed reports whether the host directory dir (absolute and clean,
// symlinks resolved) may be shared under the settings: it is one of the
// allowed directories or inside one. With no limit set, every directory
// may.
func (s Settings) ShareAllowed(dir string, h HostDirs) bool {
	allowed := s.AllowedShareDirs(h)
	if allowed == nil {
		return true
	}
	for _, a := range allowed {
		if a == "/" || dir == a || strings.HasPrefix(dir, a+"/") {
			return true
		}
	}
	return false
}
