package qemu

import (
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hardenvm/hardenvm/internal/atomicfile"
	"github.com/hardenvm/hardenvm/internal/testenv"
	"github.com/hardenvm/hardenvm/pkg/attest"
	"github.com/hardenvm/hardenvm/pkg/attest/agentproto"
	"github.com/hardenvm/hardenvm/pkg/efivars"
	"github.com/hardenvm/hardenvm/pkg/imagebuild"
	"github.com/hardenvm/hardenvm/pkg/imagedir"
	"github.com/hardenvm/hardenvm/pkg/pcr"
	"github.com/hardenvm/hardenvm/pkg/vm"
)

// requireARM64 checks for what an arm64 boot needs besides requireQEMU's:
// QEMU's aarch64 system emulator and Debian's AAVMF.
func requireARM64(t testing.TB) {
	t.Helper()
	requireQEMU(t)
	testenv.Tool(t, "qemu-system-aarch64", "qemu-system-arm")
	testenv.File(t, efivars.AAVMF.Code, efivars.AAVMF.Package)
	testenv.File(t, efivars.AAVMF.Vars, efivars.AAVMF.Package)
}

// bootARM64 boots an arm64 image's disk (snapshot) with a copy of its
// variable store under AAVMF Secure Boot on QEMU virt, with a TPM and the
// agent's channel.
func bootARM64(t *testing.T, disk, vars string) *vm.Machine {
	t.Helper()
	state := t.TempDir()
	b, err := os.ReadFile(vars)
	if err != nil {
		t.Fatal(err)
	}
	varsCopy := filepath.Join(state, imagedir.Vars)
	if err := atomicfile.WriteFile(varsCopy, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return boot(t, vm.Config{
		Arch: "arm64", StateDir: state, FirmwareCode: efivars.AAVMF.Code, FirmwareVars: varsCopy,
		Disks: []vm.Disk{{Path: disk, Snapshot: true}}, TPM: true,
		Channels: []string{agentproto.ChannelName},
	})
}

// TestARM64Minimal builds images/minimal-arm64.yml (the arm64 kernel and
// stub, the guest init and agent cross-compiled) and, in one boot under
// AAVMF Secure Boot with swtpm (TCG), checks that it reaches READY with
// Secure Boot on and the kernel locked down, that the TPM's PCRs (read in
// the guest and quoted to the agent) equal the build's prediction, and
// that the whole attestation passes. A second, short boot shows the
// firmware refusing the UKI with one byte of its signed command line
// flipped.
func TestARM64Minimal(t *testing.T) {
	requireARM64(t)
	keysDir := newKeys(t)
	img := filepath.Join(t.TempDir(), "minimal-arm64")
	spec, _ := filepath.Abs("../../images/minimal-arm64.yml")
	start := time.Now()
	if _, err := imagebuild.Build(context.Background(), imagebuild.Options{
		Spec: spec, Out: img, Keys: keysDir, Epoch: time.Unix(1700000000, 0),
		Init: crossGuest(t, "boot/init", "arm64"), Agent: crossGuest(t, "cmd/hardenvm-agent", "arm64"),
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("built the arm64 image in %v", time.Since(start).Round(time.Second))
	man := loadManifest(t, img)
	if man.Arch != "arm64" {
		t.Errorf("manifest arch %q, want arm64", man.Arch)
	}

	// Short subtest names: the VM's state directory under t.TempDir()
	// holds unix sockets, whose paths may not exceed 107 bytes.
	t.Run("boot", func(t *testing.T) {
		start := time.Now()
		m := bootARM64(t, filepath.Join(img, imagedir.Disk), filepath.Join(img, imagedir.Vars))
		expect(t, m, 4*time.Minute, `EFI stub: UEFI Secure Boot is enabled`)
		expect(t, m, time.Minute, `Kernel is locked down`)
		expect(t, m, 4*time.Minute, `hardenvm-init: root verified `+man.Root.RootHash)
		expect(t, m, 3*time.Minute, `hardenvm-init: READY`)
		t.Logf("READY %v after QEMU started (TCG)", time.Since(start).Round(time.Second))

		_, s := agentSession(t, m)
		console := readPCRs(t, m, pcr.Predicted)
		for _, i := range pcr.Predicted {
			want := man.PCRs.Values[strconv.Itoa(i)]
			if console[i] != want {
				t.Errorf("PCR %d: the guest reads %s, predicted %s", i, console[i], want)
			}
			if q := hex.EncodeToString(s.Evidence.PCRs[i]); q != want {
				t.Errorf("PCR %d: quoted %s, predicted %s", i, q, want)
			}
		}
		r := attest.Verify(s.Evidence, attest.Expect{Nonce: s.Nonce, PCRs: man.PCRs, AKBound: true})
		for _, ch := range r.Checks {
			t.Logf("%-5v %-20s %s", ch.Status, ch.Name, ch.Detail)
		}
		if err := r.Err(); err != nil {
			t.Error(err)
		}
	})

	t.Run("tampered UKI", func(t *testing.T) {
		disk, err := os.ReadFile(filepath.Join(img, imagedir.Disk))
		if err != nil {
			t.Fatal(err)
		}
		marker := "console=ttyAMA0 ro lockdown"
		if n := strings.Count(string(disk), marker); n != 1 {
			t.Fatalf("the signed command line is on the disk %d times, want once", n)
		}
		disk[strings.Index(string(disk), marker)+len("console=ttyAMA")] = '1'
		tampered := filepath.Join(t.TempDir(), imagedir.Disk)
		if err := os.WriteFile(tampered, disk, 0o644); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		m := bootARM64(t, tampered, filepath.Join(img, imagedir.Vars))
		expect(t, m, 4*time.Minute, `BdsDxe: failed to load Boot0001 "UEFI Misc Device" .*: Access Denied`)
		t.Logf("refused %v after QEMU started", time.Since(start).Round(time.Second))
		for _, bad := range []string{"EFI stub", "Linux version", "Run /init"} {
			if out := m.Console().Output(); strings.Contains(out, bad) {
				t.Errorf("the console shows %q: code past the firmware ran", bad)
			}
		}
	})
}
