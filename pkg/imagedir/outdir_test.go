package imagedir

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestCheckReplaceable(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, p string)
		ok    bool
	}{
		{"missing", func(t *testing.T, p string) {}, true},
		{"empty dir", func(t *testing.T, p string) { os.Mkdir(p, 0o755) }, true},
		{"image dir", func(t *testing.T, p string) {
			os.Mkdir(p, 0o755)
			for _, n := range []string{Manifest, Disk, UKI, Vars, Bundle} {
				os.WriteFile(filepath.Join(p, n), []byte("x"), 0o644)
			}
		}, true},
		{"project sources", func(t *testing.T, p string) {
			os.MkdirAll(filepath.Join(p, "cmd"), 0o755)
			os.WriteFile(filepath.Join(p, "go.mod"), []byte("module x"), 0o644)
		}, false},
		{"parent of images", func(t *testing.T, p string) {
			for _, n := range []string{"minimal", "desktop"} {
				os.MkdirAll(filepath.Join(p, n), 0o755)
				os.WriteFile(filepath.Join(p, n, Manifest), []byte("{}"), 0o644)
			}
		}, false},
		{"manifest plus a subdirectory", func(t *testing.T, p string) {
			os.MkdirAll(filepath.Join(p, "src"), 0o755)
			os.WriteFile(filepath.Join(p, Manifest), []byte("{}"), 0o644)
		}, false},
		{"manifest is a directory", func(t *testing.T, p string) { os.MkdirAll(filepath.Join(p, Manifest), 0o755) }, false},
		{"a file", func(t *testing.T, p string) { os.WriteFile(p, []byte("x"), 0o644) }, false},
		{"a symlink to an image dir", func(t *testing.T, p string) {
			d := t.TempDir()
			os.WriteFile(filepath.Join(d, Manifest), []byte("{}"), 0o644)
			os.Symlink(d, p)
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "out")
			tt.setup(t, p)
			err := CheckReplaceable(p)
			if (err == nil) != tt.ok {
				t.Fatalf("CheckReplaceable = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrNotImageDir) {
				t.Errorf("CheckReplaceable = %v, want it to match ErrNotImageDir", err)
			}
		})
	}
}

func TestReadArtifactCap(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "small"), []byte("12345"), 0o644)
	if b, err := ReadArtifact(dir, "small", 5); err != nil || string(b) != "12345" {
		t.Errorf("ReadArtifact(5 bytes, max 5) = %q, %v", b, err)
	}
	if _, err := ReadArtifact(dir, "small", 4); err == nil {
		t.Error("ReadArtifact(5 bytes, max 4) succeeded")
	}
	for _, name := range []string{"../small", "a/b", ""} {
		if _, err := OpenArtifact(dir, name); !errors.Is(err, ErrNotRegular) {
			t.Errorf("OpenArtifact(%q) = %v, want ErrNotRegular", name, err)
		}
	}
}
