package qemu

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hardenvm/hardenvm/internal/atomicfile"
	"github.com/hardenvm/hardenvm/internal/testenv"
	"github.com/hardenvm/hardenvm/pkg/attest/agentproto"
	"github.com/hardenvm/hardenvm/pkg/efivars"
	"github.com/hardenvm/hardenvm/pkg/imagebuild"
	"github.com/hardenvm/hardenvm/pkg/imagedir"
	"github.com/hardenvm/hardenvm/pkg/initramfs"
	"github.com/hardenvm/hardenvm/pkg/keys"
	"github.com/hardenvm/hardenvm/pkg/vm"
)

var (
	initOnce sync.Once
	initPath string
	initErr  error
)

// guestInit builds boot/init the way make build does (static,
// reproducible), once per test binary; HARDENVM_TEST_INIT names a prebuilt
// one instead.
func guestInit(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("HARDENVM_TEST_INIT"); p != "" {
		return p
	}
	initOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hardenvm-init-")
		if err != nil {
			initErr = err
			return
		}
		initPath = filepath.Join(dir, "hardenvm-init")
		initErr = initramfs.BuildInit(context.Background(), "", initPath)
	})
	if initErr != nil {
		t.Fatal(initErr)
	}
	return initPath
}

// guestAgent builds cmd/hardenvm-agent static, once per test binary;
// HARDENVM_TEST_AGENT names a prebuilt one instead.
func guestAgent(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("HARDENVM_TEST_AGENT"); p != "" {
		return p
	}
	return crossGuest(t, "cmd/hardenvm-agent", "amd64")
}

var (
	crossMu    sync.Mutex
	crossBuilt = map[string]string{}
)

// crossGuest builds a guest program (a main package of this module) for
// linux/goarch the way make build does, once per test binary.
func crossGuest(t testing.TB, pkg, goarch string) string {
	t.Helper()
	crossMu.Lock()
	defer crossMu.Unlock()
	key := pkg + " " + goarch
	if p, ok := crossBuilt[key]; ok {
		return p
	}
	dir, err := os.MkdirTemp("", "hardenvm-"+goarch+"-")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=", "-o", out, "github.com/hardenvm/hardenvm/"+pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch, "GOFLAGS=")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s for %s: %v: %s", pkg, goarch, err, b)
	}
	crossBuilt[key] = out
	return out
}

// newKeys makes a key set in the test's temp dir.
func newKeys(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "keys")
	set, err := keys.Generate(keys.Options{Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.Write(dir, set, false); err != nil {
		t.Fatal(err)
	}
	return dir
}

// buildMinimal builds images/minimal.yml signed with the given keys.
func buildMinimal(t *testing.T, keysDir string) string {
	t.Helper()
	testenv.File(t, efivars.DefaultTemplate, "ovmf")
	out := filepath.Join(t.TempDir(), "minimal")
	spec, _ := filepath.Abs("../../images/minimal.yml")
	_, err := imagebuild.Build(context.Background(), imagebuild.Options{
		Spec: spec, Out: out, Keys: keysDir, Init: guestInit(t), Agent: guestAgent(t), Epoch: time.Unix(1700000000, 0),
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// bootImage boots a disk with a firmware variable store (copied, so the
// image stays untouched) under Secure Boot OVMF with a TPM.
func bootImage(t *testing.T, disk, vars string) *vm.Machine {
	t.Helper()
	testenv.File(t, vm.OVMFCodeSecureBoot, "ovmf")
	state := t.TempDir()
	b, err := os.ReadFile(vars)
	if err != nil {
		t.Fatal(err)
	}
	varsCopy := filepath.Join(state, "OVMF_VARS.fd")
	if err := atomicfile.WriteFile(varsCopy, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return boot(t, vm.Config{
		StateDir: state, FirmwareCode: vm.OVMFCodeSecureBoot, FirmwareVars: varsCopy,
		Disks: []vm.Disk{{Path: disk, Snapshot: true}}, TPM: true,
		Channels: []string{agentproto.ChannelName},
	})
}

// TestSecureBootChain boots the minimal image the way a desktop does:
// OVMF with our keys enrolled checks the signed UKI, the kernel runs with
// Secure Boot on and locked down, and the guest init reports ready.
func TestSecureBootChain(t *testing.T) {
	requireQEMU(t)
	img := buildMinimal(t, newKeys(t))
	m := bootImage(t, filepath.Join(img, imagedir.Disk), filepath.Join(img, imagedir.Vars))
	expect(t, m, 4*time.Minute, `EFI stub: UEFI Secure Boot is enabled`)
	expect(t, m, time.Minute, `Kernel is locked down`)
	expect(t, m, time.Minute, `secureboot: Secure boot enabled`)
	// The kernel's dm-verity table for / carries the manifest's root hash.
	man, err := imagedir.Load(img)
	if err != nil {
		t.Fatal(err)
	}
	table := expect(t, m, 3*time.Minute, `hardenvm-init: dm table root: ([^\r\n]*)\r?\n`)[1]
	if !strings.Contains(table, " verity 1 ") || !strings.Contains(table, " "+man.Root.RootHash+" ") {
		t.Errorf("dm table for the root %q does not carry the manifest's root hash %s", table, man.Root.RootHash)
	}
	expect(t, m, 3*time.Minute, `hardenvm-init: READY`)
}

// TestSecureBootRefuses: whatever was not signed by the enrolled db stops
// in the firmware, before any kernel code runs.
func TestSecureBootRefuses(t *testing.T) {
	requireQEMU(t)
	keysA, keysB := newKeys(t), newKeys(t)
	a, b := buildMinimal(t, keysA), buildMinimal(t, keysB)

	// One byte of .cmdline changed on the ESP: the console=ttyS0 of the
	// signed command line becomes ttyS1.
	tampered := filepath.Join(t.TempDir(), "disk.raw")
	disk, err := os.ReadFile(filepath.Join(a, imagedir.Disk))
	if err != nil {
		t.Fatal(err)
	}
	marker := []byte("console=ttyS0 ro lockdown")
	i := strings.Index(string(disk), string(marker))
	if i < 0 || strings.Count(string(disk), string(marker)) != 1 {
		t.Fatal("the signed command line is not on the disk exactly once")
	}
	disk[i+len("console=ttyS")] = '1'
	if err := os.WriteFile(tampered, disk, 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct{ name, disk, vars string }{
		{"cmdline byte flipped", tampered, filepath.Join(a, imagedir.Vars)},
		{"UKI signed by another key", filepath.Join(b, imagedir.Disk), filepath.Join(a, imagedir.Vars)},
		{"vars enrolled with another db", filepath.Join(a, imagedir.Disk), filepath.Join(b, imagedir.Vars)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := bootImage(t, tt.disk, tt.vars)
			expect(t, m, 4*time.Minute, `BdsDxe: failed to load Boot0001 "UEFI Misc Device" .*: Access Denied`)
			expect(t, m, 2*time.Minute, `BdsDxe: No bootable option or device was found`)
			out := m.Console().Output()
			for _, bad := range []string{"EFI stub", "Linux version", "Run /init"} {
				if strings.Contains(out, bad) {
					t.Errorf("the console shows %q: code past the firmware ran", bad)
				}
			}
		})
	}
}
