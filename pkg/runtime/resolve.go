package runtime

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Links is what path resolution needs from a filesystem: the target of a
// symlink, or ok=false when the path is not a symlink (or does not exist).
type Links func(path string) (target string, ok bool, err error)

// HostLinks reads symlinks on the real filesystem.
func HostLinks(path string) (string, bool, error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	if fi.Mode()&fs.ModeSymlink == 0 {
		return "", false, nil
	}
	t, err := os.Readlink(path)
	return t, err == nil, err
}

// Resolver returns a function that resolves an absolute path the way the
// kernel walks it: component by component, following symlinks (relative
// ones from the link's directory), with ".." applied to the resolved
// parent rather than lexically. Components that do not exist are kept
// as written (the engine creates missing bind sources as directories).
func Resolver(links Links) func(string) (string, error) {
	return func(p string) (string, error) {
		if !filepath.IsAbs(p) {
			return "", fmt.Errorf("resolve %q: not an absolute path", p)
		}
		return resolve(links, p, 0)
	}
}

const maxLinks = 40 // as the kernel's MAXSYMLINKS

func resolve(links Links, p string, depth int) (string, error) {
	cur := "/"
	rest := strings.Split(p, "/")
	for len(rest) > 0 {
		c := rest[0]
		rest = rest[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			cur = filepath.Dir(cur)
			continue
		}
		next := filepath.Join(cur, c)
		t, ok, err := links(next)
		if err != nil {
			return "", fmt.Errorf("resolve %s: %w", next, err)
		}
		if !ok {
			cur = next
			continue
		}
		depth++
		if depth > maxLinks {
			return "", fmt.Errorf("resolve %s: too many levels of symbolic links", p)
		}
		if !filepath.IsAbs(t) {
			t = cur + "/" + t
		}
		r, err := resolve(links, t, depth)
		if err != nil {
			return "", err
		}
		cur = r
	}
	return cur, nil
}
