package launch

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hardenvm/hardenvm/internal/imagetest"
	"github.com/hardenvm/hardenvm/internal/testenv"
	"github.com/hardenvm/hardenvm/pkg/efivars"
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
			_, err := imageConfig(&cfg, im.Dir, "/code.fd", tt.format)
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

// TestImageConfigUnhardened: a benchmark image without its hardening
// boots on OVMF without Secure Boot, a blank variable store and no TPM
// (its init refuses Secure Boot); any other image keeps the Secure Boot
// firmware, its own enrolled store and the TPM.
func TestImageConfigUnhardened(t *testing.T) {
	testenv.File(t, efivars.DefaultTemplate, "ovmf")
	blank, err := os.ReadFile(efivars.DefaultTemplate)
	if err != nil {
		t.Fatal(err)
	}
	for _, unhardened := range []bool{false, true} {
		im := imagetest.New(t, imagetest.Options{Unhardened: unhardened})
		enrolled, _ := os.ReadFile(filepath.Join(im.Dir, imagedir.Vars))
		cfg := vm.Config{StateDir: t.TempDir(), TPM: true}
		got, err := imageConfig(&cfg, im.Dir, "", "")
		if err != nil || got != unhardened {
			t.Fatalf("imageConfig(unhardened %v) = %v, %v", unhardened, got, err)
		}
		vars, _ := os.ReadFile(cfg.FirmwareVars)
		wantCode, wantVars := vm.OVMFCodeSecureBoot, enrolled
		if unhardened {
			wantCode, wantVars = vm.OVMFCodeNoSecureBoot, blank
		}
		if cfg.FirmwareCode != wantCode || cfg.TPM == unhardened || !bytes.Equal(vars, wantVars) {
			t.Errorf("unhardened %v: firmware %s, TPM %v, vars blank %v; want %s, TPM %v, vars blank %v",
				unhardened, cfg.FirmwareCode, cfg.TPM, bytes.Equal(vars, blank), wantCode, !unhardened, unhardened)
		}
	}
}
