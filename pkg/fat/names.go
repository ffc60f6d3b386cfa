package fat

import (
	"fmt"
	"strings"
	"unicode/utf16"
)

// shortChars are the characters besides A–Z and 0–9 that a short (8.3)
// name may hold (Microsoft FAT specification §6.1); we keep to ASCII.
const shortChars = "!#$%&'()-@^_`{}~"

func shortChar(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(shortChars, c) >= 0
}

// checkName refuses names that FAT cannot store or that tools treat
// specially.
func checkName(name string) error {
	switch {
	case name == "" || name == "." || name == "..":
		return fmt.Errorf("invalid name %q", name)
	case len(utf16.Encode([]rune(name))) > 255:
		return fmt.Errorf("name %q is longer than 255 UTF-16 units", name)
	case strings.HasSuffix(name, ".") || strings.HasSuffix(name, " "):
		return fmt.Errorf("name %q ends in a dot or space, which FAT drops", name)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || strings.ContainsRune(`"*/:<>?\|`, r) {
			return fmt.Errorf("name %q contains %q, which FAT does not allow", name, r)
		}
	}
	return nil
}

// exactShort returns name as an 11-byte directory name if it already is
// a valid upper-case 8.3 name, so no long name entry is needed.
func exactShort(name string) ([11]byte, bool) {
	var s [11]byte
	for i := range s {
		s[i] = ' '
	}
	base, ext, hasDot := strings.Cut(name, ".")
	if len(base) < 1 || len(base) > 8 || len(ext) > 3 || hasDot && ext == "" || strings.Contains(ext, ".") {
		return s, false
	}
	for i := 0; i < len(name); i++ {
		if name[i] != '.' && !shortChar(name[i]) {
			return s, false
		}
	}
	copy(s[:8], base)
	copy(s[8:], ext)
	return s, true
}

// basis is the start of a generated short name: upper case, invalid
// characters as '_', spaces and inner dots dropped, the base cut to 8 and
// the extension (after the last dot) to 3 characters.
func basis(name string) (base, ext string) {
	clean := func(s string, max int) string {
		var b []byte
		for _, r := range strings.ToUpper(s) {
			switch {
			case r == ' ' || r == '.':
				continue
			case r < 0x80 && shortChar(byte(r)):
				b = append(b, byte(r))
			default:
				b = append(b, '_')
			}
			if len(b) == max {
				break
			}
		}
		return string(b)
	}
	b, e := name, ""
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		b, e = name[:i], name[i+1:]
	}
	base, ext = clean(b, 8), clean(e, 3)
	if base == "" {
		base = "_"
	}
	return base, ext
}

// aliasShort generates "BASE~N.EXT" with the smallest N not in used,
// starting the search where the last alias with that basis left off.
func aliasShort(name string, used map[[11]byte]bool, next map[string]int) ([11]byte, error) {
	base, ext := basis(name)
	key := base + "." + ext
	for n := max(next[key], 1); n < 1000000; n++ {
		next[key] = n + 1
		tail := fmt.Sprintf("~%d", n)
		b := base
		if len(b)+len(tail) > 8 {
			b = b[:8-len(tail)]
		}
		var s [11]byte
		for i := range s {
			s[i] = ' '
		}
		copy(s[:8], b+tail)
		copy(s[8:], ext)
		if !used[s] {
			return s, nil
		}
	}
	return [11]byte{}, fmt.Errorf("no free short name for %q", name)
}

// lfnChecksum is the checksum of a short name that each long name entry
// carries (FAT specification §7.2).
func lfnChecksum(s [11]byte) byte {
	var sum byte
	for _, c := range s {
		sum = (sum&1)<<7 + sum>>1 + c
	}
	return sum
}

// lfnEntries encodes name as long name entries, in on-disk order (last
// part first), for the short name s.
func lfnEntries(name string, s [11]byte) []byte {
	u := utf16.Encode([]rune(name))
	n := (len(u) + 12) / 13
	if len(u)%13 != 0 {
		u = append(u, 0) // terminator, then 0xFFFF padding
		for len(u)%13 != 0 {
			u = append(u, 0xFFFF)
		}
	}
	sum := lfnChecksum(s)
	out := make([]byte, 0, n*32)
	for i := n; i >= 1; i-- {
		e := make([]byte, 32)
		e[0] = byte(i)
		if i == n {
			e[0] |= 0x40
		}
		e[11] = attrLongName
		e[13] = sum
		part := u[(i-1)*13 : i*13]
		pos := []int{1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30}
		for j, c := range part {
			e[pos[j]], e[pos[j]+1] = byte(c), byte(c>>8)
		}
		out = append(out, e...)
	}
	return out
}
