package debarchive

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMirrorFromApt(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string // or "error"
	}{
		{"deb822", map[string]string{"sources.list.d/debian.sources": `# comment
Types: deb-src
URIs: http://src.invalid/debian
Suites: trixie
Components: main

Types: deb
URIs: http://127.0.0.1:9/debian-security
Suites: trixie-security
Components: main

Types: deb deb-src
URIs: http://127.0.0.1:9/debian/
Suites: trixie trixie-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`}, "http://127.0.0.1:9/debian"},
		{"disabled stanza", map[string]string{"sources.list.d/a.sources": "Types: deb\nURIs: http://a.invalid/debian\nEnabled: no\n\nTypes: deb\nURIs: http://b.invalid/debian\n"}, "http://b.invalid/debian"},
		{"one-line", map[string]string{"sources.list": "# deb http://x.invalid/debian trixie main\ndeb-src http://y.invalid/debian trixie main\ndeb [arch=amd64 signed-by=/k.gpg] http://z.invalid/debian trixie main\n"}, "http://z.invalid/debian"},
		{"deb822 before one-line", map[string]string{"sources.list": "deb http://old.invalid/debian trixie main\n", "sources.list.d/x.sources": "Types: deb\nURIs: https://new.invalid/debian\n"}, "https://new.invalid/debian"},
		{"list files", map[string]string{"sources.list.d/extra.list": "deb http://other.invalid/ubuntu noble main\ndeb http://l.invalid/debian trixie main\n"}, "http://l.invalid/debian"},
		{"none", map[string]string{"sources.list": "deb http://x.invalid/ubuntu noble main\n"}, "error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for name, text := range tt.files {
				p := filepath.Join(root, "etc/apt", name)
				os.MkdirAll(filepath.Dir(p), 0o755)
				if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			t.Setenv(MirrorEnv, "")
			m, err := FindMirrors(Mirrors{}, root)
			got := m.Debian
			if tt.want == "error" {
				if err == nil || !strings.Contains(err.Error(), MirrorEnv) {
					t.Errorf("FindMirrors = %q, %v; want an error naming %s", got, err, MirrorEnv)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("FindMirrors = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestFindMirrorOverrides(t *testing.T) {
	root := t.TempDir()
	t.Setenv(MirrorEnv, "http://env.invalid/debian/")
	if got, _ := FindMirrors(Mirrors{Debian: "http://flag.invalid/debian/"}, root); got.Debian != "http://flag.invalid/debian" {
		t.Errorf("flag: %q", got.Debian)
	}
	if got, _ := FindMirrors(Mirrors{}, root); got.Debian != "http://env.invalid/debian" {
		t.Errorf("env: %q", got.Debian)
	}
	t.Setenv(MirrorEnv, "")
	if _, err := FindMirrors(Mirrors{}, root); err == nil {
		t.Errorf("no sources: want an error")
	}
}
