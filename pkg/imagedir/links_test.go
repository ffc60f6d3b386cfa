package imagedir_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hardenvm/hardenvm/internal/imagetest"
	"github.com/hardenvm/hardenvm/pkg/imagedir"
)

// TestArtifactLinks: an artifact that is a link leaving the directory, a
// link to a device, or a FIFO is refused by name, without reading what it
// reaches and without blocking; a link that stays inside the directory
// is followed. An artifact of another size than the manifest's is refused
// without hashing it (a sparse 1 TiB disk.raw).
func TestArtifactLinks(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "shadow")
	secretData := []byte("root:$y$secret-hash:19000:0:99999:7:::\n")
	os.WriteFile(secret, secretData, 0o600)
	sum := sha256.Sum256(secretData)
	secretDigest := hex.EncodeToString(sum[:])

	tests := []struct {
		name     string
		artifact string
		make     func(t *testing.T, p string)
		fails    string // the artifact named in the failure; "" for a pass
	}{
		{"uki.efi links out", "uki.efi", func(t *testing.T, p string) { os.Symlink(secret, p) }, "uki.efi"},
		{"uki.efi links out through ..", "uki.efi", func(t *testing.T, p string) {
			os.Symlink(filepath.Join("..", "..", filepath.Base(filepath.Dir(filepath.Dir(secret))), filepath.Base(filepath.Dir(secret)), "shadow"), p)
		}, "uki.efi"},
		{"disk.raw links to /dev/zero", "disk.raw", func(t *testing.T, p string) { os.Symlink("/dev/zero", p) }, "disk.raw"},
		{"OVMF_VARS.fd is a FIFO", "OVMF_VARS.fd", func(t *testing.T, p string) { syscall.Mkfifo(p, 0o644) }, "OVMF_VARS.fd"},
		{"bundle links to /dev/urandom", imagedir.Bundle, func(t *testing.T, p string) { os.Symlink("/dev/urandom", p) }, imagedir.Bundle},
		{"manifest is a FIFO", imagedir.Manifest, func(t *testing.T, p string) { syscall.Mkfifo(p, 0o644) }, imagedir.Manifest},
		{"disk.raw is a sparse 1 TiB file", "disk.raw", func(t *testing.T, p string) {
			os.Link(p+".orig", p)
			if err := os.Truncate(p, 1<<40); err != nil {
				t.Skipf("no 1 TiB sparse file here: %v", err)
			}
		}, "disk.raw"},
		{"uki.efi links inside the directory", "uki.efi", func(t *testing.T, p string) {
			os.Rename(p+".orig", filepath.Join(filepath.Dir(p), "kernel.efi"))
			os.Symlink("kernel.efi", p)
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			im := imagetest.New(t, imagetest.Options{})
			p := filepath.Join(im.Dir, tt.artifact)
			if err := os.Rename(p, p+".orig"); err != nil {
				t.Fatal(err)
			}
			tt.make(t, p)
			if _, err := os.Lstat(p); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			start := time.Now()
			r, err := imagedir.Verify(ctx, im.Dir, opts(im))
			if errors.Is(err, imagedir.ErrNotImageDir) && tt.fails != "" && strings.Contains(err.Error(), tt.fails) {
				return // refused before any check: the manifest is no regular file
			}
			if err != nil {
				t.Fatal(err)
			}
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("Dir took %v", took)
			}
			var all strings.Builder
			for _, c := range r.Checks {
				all.WriteString(c.Detail + "\n")
			}
			if strings.Contains(all.String(), secretDigest[:16]) || strings.Contains(all.String(), "39 bytes") {
				t.Errorf("the report shows what the link leads to:\n%s", all.String())
			}
			if tt.fails == "" {
				if err := r.Err(); err != nil {
					t.Errorf("Err() = %v, want a pass", err)
				}
				return
			}
			err = r.Err()
			if err == nil || !strings.Contains(err.Error(), tt.fails) {
				t.Errorf("Err() = %v, want a failure naming %s", err, tt.fails)
			}
		})
	}
}
