package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hardenvm/hardenvm/internal/imagetest"
	"github.com/hardenvm/hardenvm/pkg/imagedir"
)

// TestInspectDamagedGPT: inspect shows what it can read of a disk whose
// primary or backup GPT header is damaged, says so, and exits 1; a
// truncated disk, where no table fits, is one error.
func TestInspectDamagedGPT(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, disk string)
		want   string // in stderr; "" for an intact disk
	}{
		{"intact", func(t *testing.T, disk string) {}, ""},
		{"primary header damaged", func(t *testing.T, disk string) { imagetest.FlipByte(t, disk, 512+40) }, "primary GPT header at LBA 1"},
		{"backup header damaged", func(t *testing.T, disk string) { imagetest.FlipByte(t, disk, -512+40) }, "backup GPT header"},
		{"truncated", func(t *testing.T, disk string) {
			st, _ := os.Stat(disk)
			os.Truncate(disk, st.Size()-64<<10)
		}, "does not fit a disk of"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			im := imagetest.New(t, imagetest.Options{})
			tt.damage(t, filepath.Join(im.Dir, imagedir.Disk))
			code, stdout, stderr := hv(t, "inspect", im.Dir)
			if tt.name == "truncated" {
				// No table fits: nothing to show, one error.
				if code != exitFailure || !strings.Contains(stderr, tt.want) {
					t.Errorf("exit %d, stderr %q; want exit 1 and %q", code, stderr, tt.want)
				}
				assertOneLine(t, stderr)
				return
			}
			if !strings.Contains(stdout, "root-verity") {
				t.Errorf("inspect does not show the partitions:\n%s", stdout)
			}
			if tt.want == "" {
				if code != exitOK || strings.Contains(stdout, "DAMAGED") {
					t.Errorf("intact disk: exit %d, stdout %s, stderr %q", code, stdout, stderr)
				}
				return
			}
			if code != exitFailure || !strings.Contains(stderr, tt.want) || !strings.Contains(stdout, "DAMAGED") {
				t.Errorf("exit %d, stderr %q; want exit 1 and an error containing %q, and DAMAGED in:\n%s", code, stderr, tt.want, stdout)
			}
			assertOneLine(t, stderr)
		})
	}
}

// TestSpecialArtifacts: verify, inspect and measure on an image whose
// uki.efi is a FIFO or whose disk.raw is a link to /dev/zero fail at once
// with one line, instead of waiting for a writer or reading forever.
func TestSpecialArtifacts(t *testing.T) {
	for _, tt := range []struct {
		name     string
		artifact string
		make     func(p string) error
	}{
		{"FIFO uki.efi", imagedir.UKI, func(p string) error { return syscall.Mkfifo(p, 0o644) }},
		{"disk.raw to /dev/zero", imagedir.Disk, func(p string) error { return os.Symlink("/dev/zero", p) }},
	} {
		im := imagetest.New(t, imagetest.Options{})
		p := filepath.Join(im.Dir, tt.artifact)
		os.Remove(p)
		if err := tt.make(p); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"verify", im.Dir, "--keys", im.KeyDir}, {"inspect", im.Dir}, {"measure", im.Dir}} {
			t.Run(tt.name+" "+args[0], func(t *testing.T) {
				done := make(chan struct{})
				var code int
				var stderr string
				go func() {
					code, _, stderr = hv(t, args...)
					close(done)
				}()
				select {
				case <-done:
				case <-time.After(20 * time.Second):
					t.Fatalf("%s still runs after 20s", args[0])
				}
				if code != exitFailure || !strings.Contains(stderr, tt.artifact) {
					t.Errorf("exit %d, stderr %q; want exit 1 naming %s", code, stderr, tt.artifact)
				}
				assertOneLine(t, stderr)
			})
		}
	}
}
