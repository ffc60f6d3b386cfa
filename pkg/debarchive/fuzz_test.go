package debarchive

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzVersion: parsing round-trips through String, and Compare is a
// consistent order (reflexive, antisymmetric).
func FuzzVersion(f *testing.F) {
	for _, s := range [][2]string{{"1:1.37.0-6+b9", "1.37"}, {"1.0~rc1", "1.0"}, {"257.13-1~deb13u1", "257.13-1"}, {"0001", "1"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		va, err := ParseVersion(a)
		if err != nil {
			return
		}
		again, err := ParseVersion(va.String())
		if err != nil || Compare(va, again) != 0 {
			t.Fatalf("%q -> %q does not round-trip: %v", a, va.String(), err)
		}
		if Compare(va, va) != 0 {
			t.Fatalf("Compare(%q, itself) != 0", a)
		}
		vb, err := ParseVersion(b)
		if err != nil {
			return
		}
		if Compare(va, vb) != -Compare(vb, va) {
			t.Fatalf("Compare(%q, %q) is not antisymmetric", a, b)
		}
	})
}

// FuzzRelations: a parsed field prints as text that parses to the same relations.
func FuzzRelations(f *testing.F) {
	f.Add("libc6 (>= 2.36), mawk | awk, foo:any (<< 2:1.0-1~)")
	f.Add("initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool")
	f.Fuzz(func(t *testing.T, s string) {
		rels, err := ParseRelations(s)
		if err != nil {
			return
		}
		var parts []string
		for _, a := range rels {
			parts = append(parts, a.String())
		}
		again, err := ParseRelations(strings.Join(parts, ", "))
		if err != nil || len(again) != len(rels) {
			t.Fatalf("%q printed as %q does not parse back: %v", s, strings.Join(parts, ", "), err)
		}
		for i := range rels {
			if rels[i].String() != again[i].String() {
				t.Fatalf("relation %d: %q != %q", i, rels[i], again[i])
			}
		}
	})
}

// FuzzIndex: any Packages text is read without panicking, and whatever it
// indexes resolves (or fails) without panicking.
func FuzzIndex(f *testing.F) {
	f.Add([]byte("Package: aa\nVersion: 1\nArchitecture: amd64\nDepends: bb | cc (>= 1)\nProvides: vv (= 2)\nFilename: pool/a.deb\nSize: 1\nSHA256: " + strings.Repeat("a", 64) + "\n\nPackage: bb\nVersion: 1\nArchitecture: all\nFilename: pool/b.deb\nSize: 1\nSHA256: " + strings.Repeat("b", 64) + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		x := NewIndex("amd64")
		if err := x.Add(bytes.NewReader(data), "Packages"); err != nil {
			return
		}
		for name := range x.packages {
			x.Resolve([]string{name})
		}
	})
}

// FuzzRelease: the Release parser never panics on signed-but-odd text (the
// paragraph reader under it has its own fuzz test in package deb822).
func FuzzRelease(f *testing.F) {
	f.Add([]byte("Suite: stable\nCodename: trixie\nDate: Sat, 21 Nov 2026 09:15:44 UTC\nSHA256:\n " + strings.Repeat("a", 64) + " 12 main/binary-amd64/Packages\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		parseRelease("InRelease", data)
	})
}
