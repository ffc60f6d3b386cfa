package fat

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkESP64MiB writes a 64 MiB ESP holding a 40 MiB UKI, with this
// package and with the peer tools (mkfs.vfat, then mmd and mcopy), side by
// side. Neither side fsyncs (WriteFile would add one).
func BenchmarkESP64MiB(b *testing.B) {
	dir := b.TempDir()
	uki := randomBytes(7, 40<<20)
	ukiPath := filepath.Join(dir, "uki.efi")
	if err := os.WriteFile(ukiPath, uki, 0o644); err != nil {
		b.Fatal(err)
	}
	out := filepath.Join(dir, "esp.img")
	b.Run("hardenvm", func(b *testing.B) {
		b.SetBytes(int64(len(uki)))
		for b.Loop() {
			f := File{Path: "EFI/BOOT/BOOTX64.EFI", Size: int64(len(uki)), Data: bytes.NewReader(uki)}
			img, err := os.Create(out)
			if err == nil {
				err = img.Truncate(64 << 20)
			}
			if err == nil {
				_, err = Write(img, []File{f}, Options{Size: 64 << 20, Time: time.Unix(0, 0)})
			}
			if err == nil {
				err = img.Close()
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("mkfs.vfat+mcopy", func(b *testing.B) {
		mkfs, err := exec.LookPath("mkfs.vfat")
		if err != nil {
			mkfs = "/usr/sbin/mkfs.vfat"
		}
		if _, err := os.Stat(mkfs); err != nil {
			b.Skip("mkfs.vfat not found: install dosfstools")
		}
		b.SetBytes(int64(len(uki)))
		for b.Loop() {
			os.Remove(out)
			for _, args := range [][]string{
				{mkfs, "-F", "32", "-S", "512", "-s", "1", "-C", out, "65536"},
				{"mmd", "-i", out, "::/EFI", "::/EFI/BOOT"},
				{"mcopy", "-i", out, ukiPath, "::/EFI/BOOT/BOOTX64.EFI"},
			} {
				cmd := exec.Command(args[0], args[1:]...)
				cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
				if o, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("%v: %v\n%s", args, err, o)
				}
			}
		}
	})
}
