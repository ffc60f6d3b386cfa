package sbom

import (
	"fmt"
	"strings"
)

// PackageURL is the package URL of a Debian binary package (purl-spec, type
// "deb"): pkg:deb/debian/NAME@VERSION?arch=ARCH&distro=DISTRO, with the
// version percent-encoded ("+" and the epoch's ":" are not left bare).
func PackageURL(name, version, arch, distro string) string {
	s := "pkg:deb/debian/" + escape(name) + "@" + escape(version) + "?arch=" + escape(arch)
	if distro != "" {
		s += "&distro=" + escape(distro)
	}
	return s
}

// goPurl is the package URL of a Go module: pkg:golang/PATH@VERSION, the
// path's segments kept as namespace and name.
func goPurl(path, version string) string {
	segs := strings.Split(path, "/")
	for i := range segs {
		segs[i] = escape(segs[i])
	}
	s := "pkg:golang/" + strings.Join(segs, "/")
	if version != "" {
		s += "@" + escape(version)
	}
	return s
}

// escape percent-encodes everything but RFC 3986's unreserved characters.
func escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}
