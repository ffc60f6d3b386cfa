// Package testkernel finds the Debian packages tests boot and inspect: the
// cloud kernel and the systemd-boot stub pinned in test/qemu/kernel.lock
// and unpacked by scripts/fetch-kernel (make test runs it first).
package testkernel

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/hardenvm/hardenvm/internal/testenv"
)

// Dir returns the directory holding vmlinuz, config, release, modules/ and
// linuxx64.efi.stub (systemd-boot-efi of the guest's suite), or skips
// (fails in CI) when it has not been fetched.
func Dir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("HARDENVM_TEST_KERNEL_DIR")
	if dir == "" {
		_, self, _, _ := runtime.Caller(0)
		lock, err := os.ReadFile(filepath.Join(filepath.Dir(self), "..", "..", "test", "qemu", "kernel.lock"))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(lock)
		cache, _ := os.UserCacheDir()
		dir = filepath.Join(cache, "hardenvm", "testkernel", hex.EncodeToString(sum[:]))
	}
	if _, err := os.Stat(filepath.Join(dir, "linuxx64.efi.stub")); err != nil {
		msg := "test kernel not found in " + dir + ": run scripts/fetch-kernel (make test does)"
		if testenv.Required() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return dir
}

// Vmlinuz returns the kernel image path.
func Vmlinuz(t testing.TB) string { return filepath.Join(Dir(t), "vmlinuz") }

// Stub returns the guest suite's systemd-boot EFI stub.
func Stub(t testing.TB) string { return filepath.Join(Dir(t), "linuxx64.efi.stub") }
