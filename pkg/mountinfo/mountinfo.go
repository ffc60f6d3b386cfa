// Package mountinfo reads what the kernel writes in /proc/PID/mountinfo
// (proc(5)). Only the escaping is implemented: the kernel writes a space,
// tab, newline and backslash in a path or option as a backslash and three
// octal digits (\040 for a space), and Unescape undoes that. The guest
// init and the runtime shim both read mountinfo; the package uses the
// standard library only.
package mountinfo

import (
	"strconv"
	"strings"
)

// Unescape undoes mountinfo's octal escapes in one field. A backslash not
// followed by three octal digits stays as it is.
func Unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
