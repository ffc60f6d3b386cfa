package imagedir_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hardenvm/hardenvm/internal/imagetest"
	"github.com/hardenvm/hardenvm/internal/qemuimgtest"
	"github.com/hardenvm/hardenvm/pkg/checklist"
	"github.com/hardenvm/hardenvm/pkg/imagedir"
	"github.com/hardenvm/hardenvm/pkg/keys"
)

func TestCheckFormats(t *testing.T) {
	tests := []struct {
		name    string
		formats []string
		want    []string
		err     string
	}{
		{"none", nil, nil, ""},
		{"raw only", []string{"raw"}, nil, ""},
		{"both, once each, in order", []string{"vhdx", "raw", "qcow2", "vhdx"}, []string{"qcow2", "vhdx"}, ""},
		{"unknown", []string{"qcow2", "vmdk"}, nil, `"vmdk" is not one of [raw qcow2 vhdx]`},
		{"case matters", []string{"QCOW2"}, nil, `"QCOW2" is not one of`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := imagedir.CheckFormats(tt.formats)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("CheckFormats(%q) = %v, want an error with %q", tt.formats, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("CheckFormats(%q) (-want +got):\n%s", tt.formats, diff)
			}
		})
	}
}

// TestDiskFormatsVerify: the disk's other formats are artifacts like the
// rest: listed, verified, and a changed byte fails the digest check of
// that file alone.
func TestDiskFormatsVerify(t *testing.T) {
	formats := []string{imagedir.FormatQCOW2, imagedir.FormatVHDX}
	im := imagetest.New(t, imagetest.Options{Formats: formats})
	if diff := cmp.Diff(formats, imagedir.DiskFormats(im.Manifest)); diff != "" {
		t.Errorf("DiskFormats (-want +got):\n%s", diff)
	}
	if err := mustVerify(t, im.Dir, opts(im)).Err(); err != nil {
		t.Fatalf("a fresh image: %v", err)
	}
	for _, name := range []string{imagedir.DiskQCOW2, imagedir.DiskVHDX} {
		t.Run(name, func(t *testing.T) {
			im := imagetest.New(t, imagetest.Options{Formats: formats})
			qemuimgtest.Check(t, filepath.Join(im.Dir, name), strings.TrimPrefix(filepath.Ext(name), "."), filepath.Join(im.Dir, imagedir.Disk))
			imagetest.FlipByte(t, filepath.Join(im.Dir, name), 100)
			r := mustVerify(t, im.Dir, opts(im))
			if err := r.Err(); !errors.Is(err, checklist.ErrFailed) || !strings.Contains(err.Error(), ": "+name+" failed verification") {
				t.Errorf("Err() = %v, want %s named", err, name)
			}
			var failed []string
			for _, c := range r.Failed() {
				failed = append(failed, c.Name+" "+c.Artifact)
			}
			if diff := cmp.Diff([]string{"digest " + name}, failed); diff != "" {
				t.Errorf("failed checks (-want +got):\n%s", diff)
			}
		})
	}
}

// TestInstallRewritesFormats: a config swap writes the other formats
// again from the new disk, so they stay the same disk.
func TestInstallRewritesFormats(t *testing.T) {
	im := imagetest.New(t, imagetest.Options{Config: true, Formats: []string{imagedir.FormatQCOW2, imagedir.FormatVHDX}})
	before := im.Manifest.Artifacts
	admin := im.Keys.Get(keys.Admin)
	m, err := imagedir.Install(context.Background(), im.Dir, readBack(t, signedConfig(t, registrySettings, admin)),
		imagedir.InstallOptions{Admin: admin, Signing: im.Keys.Get(keys.Signing)})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{imagedir.Disk, imagedir.DiskQCOW2, imagedir.DiskVHDX} {
		if m.Artifacts[name] == before[name] {
			t.Errorf("%s is unchanged after the config swap", name)
		}
	}
	raw := filepath.Join(im.Dir, imagedir.Disk)
	qemuimgtest.Check(t, filepath.Join(im.Dir, imagedir.DiskQCOW2), "qcow2", raw)
	qemuimgtest.Check(t, filepath.Join(im.Dir, imagedir.DiskVHDX), "vhdx", raw)
	if err := mustVerify(t, im.Dir, opts(im)).Err(); err != nil {
		t.Errorf("after the config swap: %v", err)
	}
}
