package debcopyright

import (
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLicenses(t *testing.T) {
	runc, err := os.ReadFile("testdata/runc.copyright") // as Debian bookworm ships it
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		in       string
		want     []string
		readable bool
	}{
		{"real", string(runc), []string{"Apache-2.0", "GPL-3+", "GPL-3+ or Apache-2.0"}, true},
		{"header license, comments, continuation", `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
License: MIT
# a comment
Comment: x
 y

Files: *
Copyright: 2024 A
License:   GPL-2+
 This program is free software.

License: GPL-2+
 The text.
`, []string{"MIT", "GPL-2+"}, true},
		{"free-form", "This package was debianized by A on\nSun, 18 Jun 2000.\n\nLicense: GPL\n", nil, false},
		{"empty", "", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Licenses([]byte(tt.in))
			if ok != tt.readable {
				t.Errorf("Licenses() machine-readable = %v, want %v", ok, tt.readable)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Licenses() diff (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzLicenses(f *testing.F) {
	runc, err := os.ReadFile("testdata/runc.copyright")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(runc)
	f.Add([]byte("Format: x\n\nFiles: *\nLicense: a\n b\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, ok := Licenses(b)
		if !ok && l != nil {
			t.Errorf("Licenses() = %q for a file that is not machine-readable", l)
		}
		seen := map[string]bool{}
		for _, s := range l {
			if s == "" || seen[s] {
				t.Errorf("Licenses() = %q: empty or repeated entry", l)
			}
			seen[s] = true
		}
	})
}
