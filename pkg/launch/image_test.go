package launch

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hardenvm/hardenvm/internal/imagetest"
	"github.com/hardenvm/hardenvm/pkg/imagedir"
	"github.com/hardenvm/hardenvm/pkg/vm"
)

func TestImageConfigDiskFormat(t *testing.T) {
	im := imagetest.New(t, imagetest.Options{Formats: []string{imagedir.FormatQCOW2}})
	tests := []struct {
		format string
		want   vm.Disk
		err    string
	}{
		{"", vm.Disk{Path: filepath.Join(im.Dir, imagedir.Disk), Format: "raw", ReadOnly: true}, ""},
		{"raw", vm.Disk{Path: filepath.Join(im.Dir, imagedir.Disk), Format: "raw", ReadOnly: true}, ""},
		{"qcow2", vm.Disk{Path: filepath.Join(im.Dir, imagedir.DiskQCOW2), Format: "qcow2", ReadOnly: true}, ""},
		// not built: the manifest does not list it
		{"vhdx", vm.Disk{}, "has no vhdx disk (its manifest lists no disk.vhdx); build it with 'hardenvm build --format vhdx'"},
	}
	for _, tt := range tests {
		t.Run("format "+tt.format, func(t *testing.T) {
			cfg := vm.Config{StateDir: t.TempDir()}
			err := imageConfig(&cfg, im.Dir, "/code.fd", tt.format)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("imageConfig(%q) = %v, want an error with %q", tt.format, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]vm.Disk{tt.want}, cfg.Disks); diff != "" {
				t.Errorf("imageConfig(%q) disks (-want +got):\n%s", tt.format, diff)
			}
		})
	}
}
