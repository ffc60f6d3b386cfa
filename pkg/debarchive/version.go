package debarchive

import (
	"fmt"
	"strings"
)

// Version is a Debian package version, [epoch:]upstream[-revision], ordered
// as dpkg orders it (deb-version(7)).
type Version struct {
	Epoch    int
	Upstream string
	Revision string
}

// ParseVersion parses a version string.
func ParseVersion(s string) (Version, error) {
	var v Version
	if s == "" || strings.TrimSpace(s) != s {
		return v, fmt.Errorf("version %q: empty or surrounded by spaces", s)
	}
	rest := s
	if i := strings.IndexByte(rest, ':'); i >= 0 {
		e := rest[:i]
		if e == "" || len(e) > 9 || strings.Trim(e, "0123456789") != "" {
			return v, fmt.Errorf("version %q: epoch must be a number", s)
		}
		for _, c := range e {
			v.Epoch = v.Epoch*10 + int(c-'0')
		}
		rest = rest[i+1:]
	}
	if i := strings.LastIndexByte(rest, '-'); i >= 0 {
		v.Revision = rest[i+1:]
		rest = rest[:i]
		if v.Revision == "" {
			return v, fmt.Errorf("version %q: empty revision after '-'", s)
		}
	}
	v.Upstream = rest
	if rest == "" || rest[0] < '0' || rest[0] > '9' {
		return v, fmt.Errorf("version %q: upstream version must start with a digit", s)
	}
	for _, c := range v.Upstream + v.Revision {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || strings.ContainsRune(".+~-:", c)) {
			return v, fmt.Errorf("version %q: character %q is not allowed", s, c)
		}
	}
	return v, nil
}

func (v Version) String() string {
	s := v.Upstream
	if v.Epoch != 0 {
		s = fmt.Sprint(v.Epoch) + ":" + s
	}
	if v.Revision != "" {
		s += "-" + v.Revision
	}
	return s
}

// Compare returns -1, 0 or +1 as a sorts before, equal to, or after b.
func Compare(a, b Version) int {
	if a.Epoch != b.Epoch {
		if a.Epoch < b.Epoch {
			return -1
		}
		return 1
	}
	if c := compareFragment(a.Upstream, b.Upstream); c != 0 {
		return c
	}
	return compareFragment(a.Revision, b.Revision)
}

// order is dpkg's character weight: '~' before everything (even the end),
// then the end of the string and digits, then letters, then other symbols.
func order(c byte) int {
	switch {
	case c == '~':
		return -1
	case c >= '0' && c <= '9':
		return 0
	case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		return int(c)
	}
	return int(c) + 256
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// compareFragment is dpkg's verrevcmp: alternating non-digit runs (by
// order) and digit runs (numerically, without overflow).
func compareFragment(a, b string) int {
	for a != "" || b != "" {
		for (a != "" && !isDigit(a[0])) || (b != "" && !isDigit(b[0])) {
			var ac, bc int
			if a != "" {
				ac = order(a[0])
			}
			if b != "" {
				bc = order(b[0])
			}
			if ac != bc {
				return sign(ac - bc)
			}
			a, b = a[1:], b[1:]
		}
		a = strings.TrimLeft(a, "0")
		b = strings.TrimLeft(b, "0")
		i, j := 0, 0
		for i < len(a) && isDigit(a[i]) {
			i++
		}
		for j < len(b) && isDigit(b[j]) {
			j++
		}
		if i != j {
			return sign(i - j)
		}
		if c := strings.Compare(a[:i], b[:j]); c != 0 {
			return c
		}
		a, b = a[i:], b[j:]
	}
	return 0
}

func sign(x int) int {
	switch {
	case x < 0:
		return -1
	case x > 0:
		return 1
	}
	return 0
}
