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
	t.Parallel() // beside TestDesktopWorkloads: TCG runs a VM on one core
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

// TestARM64Desktop builds images/desktop-arm64.yml and runs it as a user
// does (hardenvm run with a state directory and a docker context, which
// picks AAVMF from the manifest's architecture); the host's docker CLI
// imports an arm64 busybox image (testdata/busybox-arm64.yml) and runs a
// container in the hardened engine: it runs on aarch64, in its own user
// namespace. One boot; the slow arm64 test.
func TestARM64Desktop(t *testing.T) {
	requireARM64(t)
	t.Parallel()
	testenv.Tool(t, "docker", "docker.io")
	keysDir := newKeys(t)
	start := time.Now()
	img := buildDesktopSpec(t, keysDir, "desktop-arm64", "arm64",
		crossGuest(t, "boot/init", "arm64"), crossGuest(t, "cmd/hardenvm-agent", "arm64"))
	t.Logf("built the arm64 desktop image in %v", time.Since(start).Round(time.Second))
	tarball := debImage(t, "busybox-arm64.yml")

	d := desktopRun{cli: hardenvmBinary(t), img: img, keysDir: keysDir, state: filepath.Join(t.TempDir(), "state"),
		context: "hvarm64", dockerConfig: t.TempDir()}
	stop := d.start(t)
	defer stop()
	docker := func(args ...string) string {
		t.Helper()
		out, err := d.docker(args...)
		if err != nil {
			t.Fatalf("docker %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return out
	}
	if got := docker("info", "--format", "{{.Architecture}} {{.DefaultRuntime}}"); got != "aarch64 hardenvm" {
		t.Errorf("engine architecture and default runtime %q, want \"aarch64 hardenvm\"", got)
	}
	docker("import", tarball, "hvarm64:1")
	start = time.Now()
	out := docker("run", "--rm", "hvarm64:1", "/usr/bin/busybox", "sh", "-c", "/usr/bin/busybox uname -m; /usr/bin/busybox cat /proc/self/uid_map")
	t.Logf("docker run --rm took %v: %q", time.Since(start).Round(time.Second), out)
	lines := strings.Split(out, "\n")
	if len(lines) < 2 || strings.TrimSpace(lines[0]) != "aarch64" {
		t.Fatalf("the container says %q, want aarch64 and its uid_map", out)
	}
	if f := strings.Fields(lines[1]); len(f) != 3 || f[0] != "0" || f[1] == "0" {
		t.Errorf("container uid_map %q: want its root mapped to an unprivileged host ID (a user namespace)", lines[1])
	}
}
