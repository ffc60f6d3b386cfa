package debarchive

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"github.com/hardenvm/hardenvm/pkg/deb822"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// MirrorEnv and SecurityMirrorEnv override the mirrors found in the
// host's apt sources.
const (
	MirrorEnv         = "HARDENVM_DEBIAN_MIRROR"
	SecurityMirrorEnv = "HARDENVM_DEBIAN_SECURITY_MIRROR"
)

// The archives a suite can live in, named by the last element of their
// root's path on Debian mirrors (…/debian, …/debian-security). Locks
// record these names, never a host.
const (
	ArchiveDebian   = "debian"
	ArchiveSecurity = "debian-security"
)

// ArchiveOf is the archive a suite lives in: Debian publishes its security
// suites (trixie-security) in the security archive, everything else
// (trixie, trixie-updates, trixie-backports) in the main one.
func ArchiveOf(suite string) string {
	if strings.HasSuffix(suite, "-security") {
		return ArchiveSecurity
	}
	return ArchiveDebian
}

// Mirrors are the base URLs of the two archives.
type Mirrors struct {
	Debian, Security string
}

// Root returns the base URL of an archive, or an error saying how to name
// one.
func (m Mirrors) Root(archive string) (string, error) {
	switch archive {
	case ArchiveDebian:
		if m.Debian != "" {
			return m.Debian, nil
		}
		return "", fmt.Errorf("no mirror for the %s archive: pass --mirror or set %s", archive, MirrorEnv)
	case ArchiveSecurity:
		if m.Security != "" {
			return m.Security, nil
		}
		return "", fmt.Errorf("no mirror for the %s archive: pass --security-mirror or set %s", archive, SecurityMirrorEnv)
	}
	return "", fmt.Errorf("unknown archive %q (want %s or %s)", archive, ArchiveDebian, ArchiveSecurity)
}

// FindMirrors picks both mirrors, each from the first of: the flag (a field
// of flags), its environment variable, the host's apt sources under root
// ("/" normally). A security mirror found nowhere is the main mirror's
// sibling archive (…/debian → …/debian-security), as on Debian's own
// mirrors. hardenvm never names a mirror itself.
func FindMirrors(flags Mirrors, root string) (Mirrors, error) {
	m := Mirrors{Debian: cmp.Or(flags.Debian, os.Getenv(MirrorEnv)), Security: cmp.Or(flags.Security, os.Getenv(SecurityMirrorEnv))}
	if m.Debian == "" || m.Security == "" {
		apt, err := mirrorsFromApt(root)
		if err != nil {
			return Mirrors{}, err
		}
		m.Debian = cmp.Or(m.Debian, apt.Debian)
		m.Security = cmp.Or(m.Security, apt.Security)
	}
	m.Debian, m.Security = strings.TrimSuffix(m.Debian, "/"), strings.TrimSuffix(m.Security, "/")
	if m.Debian == "" {
		dir := filepath.Join(root, "etc/apt")
		return Mirrors{}, fmt.Errorf("no Debian mirror in %s/sources.list{,.d/*.sources,.d/*.list}: pass --mirror or set %s", dir, MirrorEnv)
	}
	if m.Security == "" {
		if base, ok := strings.CutSuffix(m.Debian, "/"+ArchiveDebian); ok {
			m.Security = base + "/" + ArchiveSecurity
		}
	}
	return m, nil
}

// mirrorsFromApt returns the first "deb" URI in the apt sources under root
// that serves the "debian" archive (its path ends in /debian) and the first
// that serves "debian-security"; either may be empty. It reads deb822 files
// (etc/apt/sources.list.d/*.sources, disabled stanzas skipped) first, then
// the one-line format (etc/apt/sources.list and sources.list.d/*.list), the
// same rule as scripts/debian-mirror.
func mirrorsFromApt(root string) (Mirrors, error) {
	dir := filepath.Join(root, "etc/apt")
	var uris []string
	deb822, _ := filepath.Glob(filepath.Join(dir, "sources.list.d", "*.sources"))
	slices.Sort(deb822)
	for _, f := range deb822 {
		u, err := readDeb822Sources(f)
		if err != nil {
			return Mirrors{}, err
		}
		uris = append(uris, u...)
	}
	lists, _ := filepath.Glob(filepath.Join(dir, "sources.list.d", "*.list"))
	slices.Sort(lists)
	for _, f := range append([]string{filepath.Join(dir, "sources.list")}, lists...) {
		u, err := readOneLineSources(f)
		if err != nil {
			return Mirrors{}, err
		}
		uris = append(uris, u...)
	}
	var m Mirrors
	for _, u := range uris {
		u = strings.TrimSuffix(u, "/")
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			continue
		}
		switch {
		case strings.HasSuffix(u, "/"+ArchiveSecurity) && m.Security == "":
			m.Security = u
		case strings.HasSuffix(u, "/"+ArchiveDebian) && m.Debian == "":
			m.Debian = u
		}
	}
	return m, nil
}

func readDeb822Sources(file string) ([]string, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var uris []string
	pr := deb822.NewReader(f, file)
	for {
		p, err := pr.Next()
		if errors.Is(err, io.EOF) {
			return uris, nil
		}
		if err != nil {
			return nil, fmt.Errorf("apt sources: %w", err)
		}
		if !slices.Contains(strings.Fields(p["Types"]), "deb") || strings.EqualFold(p["Enabled"], "no") {
			continue
		}
		uris = append(uris, strings.Fields(p["URIs"])...)
	}
}

func readOneLineSources(file string) ([]string, error) {
	f, err := os.Open(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var uris []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		line, _, _ := strings.Cut(s.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) < 2 || fields[0] != "deb" {
			continue
		}
		rest := fields[1:]
		if strings.HasPrefix(rest[0], "[") { // options: "[arch=amd64 signed-by=...]"
			for len(rest) > 0 && !strings.HasSuffix(rest[0], "]") {
				rest = rest[1:]
			}
			if len(rest) > 0 {
				rest = rest[1:]
			}
		}
		if len(rest) > 0 {
			uris = append(uris, rest[0])
		}
	}
	return uris, s.Err()
}
