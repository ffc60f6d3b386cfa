package imagedir_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/hardenvm/hardenvm/internal/imagetest"
	"github.com/hardenvm/hardenvm/pkg/imagedir"
)

func TestOpen(t *testing.T) {
	im := imagetest.New(t, imagetest.Options{})
	d, err := imagedir.Open(im.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if d.Manifest.Root.RootHash != im.Manifest.Root.RootHash || d.File(imagedir.Disk) != filepath.Join(im.Dir, imagedir.Disk) {
		t.Errorf("Open = %+v, want the manifest of %s", d, im.Dir)
	}
	if h, err := d.RootHash(); err != nil || len(h) != 32 {
		t.Errorf("RootHash() = %x, %v", h, err)
	}
	if h, err := d.ConfigRootHash(); err != nil || h != nil {
		t.Errorf("ConfigRootHash() without a config = %x, %v, want nil", h, err)
	}

	tests := []struct {
		name     string
		setup    func(t *testing.T) string
		notImage bool // refused as no image directory
	}{
		{"missing", func(t *testing.T) string { return filepath.Join(t.TempDir(), "missing") }, true},
		{"a file", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "f")
			os.WriteFile(p, nil, 0o644)
			return p
		}, true},
		{"no manifest", func(t *testing.T) string { return t.TempDir() }, true},
		{"manifest not JSON", func(t *testing.T) string {
			d := t.TempDir()
			os.WriteFile(filepath.Join(d, imagedir.Manifest), []byte("{"), 0o644)
			return d
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := imagedir.Open(tt.setup(t))
			if err == nil || errors.Is(err, imagedir.ErrNotImageDir) != tt.notImage {
				t.Errorf("Open = %v, want an error (not an image directory: %v)", err, tt.notImage)
			}
		})
	}
}
