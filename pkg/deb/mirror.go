package deb

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// MirrorEnv overrides the mirror found in the host's apt sources.
const MirrorEnv = "HARDENVM_DEBIAN_MIRROR"

// FindMirror picks the Debian mirror: flag if set, else $HARDENVM_DEBIAN_MIRROR,
// else the host's apt sources under root ("/" normally). hardenvm never
// names a mirror itself.
func FindMirror(flag, root string) (string, error) {
	if flag != "" {
		return strings.TrimSuffix(flag, "/"), nil
	}
	if env := os.Getenv(MirrorEnv); env != "" {
		return strings.TrimSuffix(env, "/"), nil
	}
	return MirrorFromApt(root)
}

// MirrorFromApt returns the first "deb" URI in the apt sources under root
// that serves the "debian" archive (its path ends in /debian; security
// archives are skipped). It reads deb822 files
// (etc/apt/sources.list.d/*.sources, disabled stanzas skipped) first, then
// the one-line format (etc/apt/sources.list and sources.list.d/*.list), the
// same rule as scripts/debian-mirror.
func MirrorFromApt(root string) (string, error) {
	dir := filepath.Join(root, "etc/apt")
	var uris []string
	deb822, _ := filepath.Glob(filepath.Join(dir, "sources.list.d", "*.sources"))
	slices.Sort(deb822)
	for _, f := range deb822 {
		u, err := readDeb822Sources(f)
		if err != nil {
			return "", err
		}
		uris = append(uris, u...)
	}
	lists, _ := filepath.Glob(filepath.Join(dir, "sources.list.d", "*.list"))
	slices.Sort(lists)
	for _, f := range append([]string{filepath.Join(dir, "sources.list")}, lists...) {
		u, err := readOneLineSources(f)
		if err != nil {
			return "", err
		}
		uris = append(uris, u...)
	}
	for _, u := range uris {
		u = strings.TrimSuffix(u, "/")
		if strings.HasSuffix(u, "-security") || strings.HasSuffix(u, "/debian-security") {
			continue
		}
		if strings.HasSuffix(u, "/debian") && (strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://")) {
			return u, nil
		}
	}
	return "", fmt.Errorf("no Debian mirror in %s/sources.list{,.d/*.sources,.d/*.list}: pass --mirror or set %s", dir, MirrorEnv)
}

func readDeb822Sources(file string) ([]string, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var uris []string
	pr := NewParagraphReader(f, file)
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
