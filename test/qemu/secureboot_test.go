package qemu

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hardenvm/hardenvm/boot/bootparams"
	"github.com/hardenvm/hardenvm/internal/testenv"
	"github.com/hardenvm/hardenvm/pkg/disk"
	"github.com/hardenvm/hardenvm/pkg/efivars"
	"github.com/hardenvm/hardenvm/pkg/fat"
	"github.com/hardenvm/hardenvm/pkg/gpt"
	"github.com/hardenvm/hardenvm/pkg/keys"
	"github.com/hardenvm/hardenvm/pkg/vm"
	"github.com/hardenvm/hardenvm/test/qemu/testinitrd"
)

// These tests boot from a disk, not with QEMU's -kernel: Debian's OVMF
// (edk2 2022.11) verifies a -kernel image, but when the check fails it
// falls back to its legacy Linux loader and boots the kernel anyway, so
// only images the boot manager loads from a disk are held to Secure Boot.

var enrollTime = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// sbFixture holds what the Secure Boot tests share: our key set and an
// unrelated one, our enrolled variable store, and the Debian kernel
// unsigned, signed by our db key and signed by the other db key.
type sbFixture struct {
	dir                   string
	code, vars            string
	ours                  *keys.Set
	oursDir, otherDir     string
	unsigned, oursKernel  string
	otherKernel, sdBootSB string
}

func newSBFixture(t *testing.T) *sbFixture {
	t.Helper()
	requireQEMU(t)
	f := &sbFixture{dir: t.TempDir()}
	f.code = testenv.File(t, vm.OVMFCodeSecureBoot, "ovmf")
	testenv.File(t, efivars.DefaultTemplate, "ovmf")
	testenv.File(t, systemdBoot, "systemd-boot-efi")
	sbsign := testenv.Tool(t, "sbsign", "sbsigntool")
	sbattach := testenv.Tool(t, "sbattach", "sbsigntool")
	kernel := testKernel(t)

	var err error
	now := time.Now()
	f.oursDir, f.otherDir = filepath.Join(f.dir, "keys"), filepath.Join(f.dir, "other-keys")
	for _, d := range []string{f.oursDir, f.otherDir} {
		set, err := keys.Generate(keys.Options{Organization: "hardenvm test " + filepath.Base(d), Now: now})
		if err != nil {
			t.Fatal(err)
		}
		if err := keys.Write(d, set, false); err != nil {
			t.Fatal(err)
		}
	}
	if f.ours, err = keys.Load(f.oursDir); err != nil {
		t.Fatal(err)
	}
	e, err := efivars.KeySetEnrollment(f.ours, enrollTime)
	if err != nil {
		t.Fatal(err)
	}
	f.vars = filepath.Join(f.dir, "OVMF_VARS.fd")
	if err := efivars.EnrollFile(efivars.DefaultTemplate, f.vars, e); err != nil {
		t.Fatal(err)
	}

	run := func(name string, args ...string) {
		t.Helper()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
	}
	sign := func(keyDir, in, out string) {
		run(sbsign, "--key", filepath.Join(keyDir, "db.key"), "--cert", filepath.Join(keyDir, "db.crt"), "--output", out, in)
	}
	// Debian signs its kernel for shim; take that signature off first.
	f.unsigned = filepath.Join(f.dir, "vmlinuz.unsigned")
	copyFile(t, kernel, f.unsigned)
	run(sbattach, "--remove", f.unsigned)
	f.oursKernel = filepath.Join(f.dir, "vmlinuz.ours")
	sign(f.oursDir, f.unsigned, f.oursKernel)
	f.otherKernel = filepath.Join(f.dir, "vmlinuz.other")
	sign(f.otherDir, f.unsigned, f.otherKernel)
	f.sdBootSB = filepath.Join(f.dir, "systemd-bootx64.efi")
	sign(f.oursDir, systemdBoot, f.sdBootSB)
	return f
}

// varsCopy gives each boot its own copy of the enrolled store (the
// firmware writes to it).
func (f *sbFixture) varsCopy(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "OVMF_VARS.fd")
	copyFile(t, f.vars, p)
	return p
}

// espDisk writes a GPT disk with one EFI system partition holding files
// (name -> host path or, with a "text:" prefix, literal content).
func espDisk(t *testing.T, path string, files map[string]string) string {
	t.Helper()
	var esp []fat.File
	var closers []io.Closer
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()
	for name, src := range files {
		if s, ok := strings.CutPrefix(src, "text:"); ok {
			esp = append(esp, fat.File{Path: name, Size: int64(len(s)), Data: strings.NewReader(s)})
			continue
		}
		ff, c, err := fat.OSFile(name, src)
		if err != nil {
			t.Fatal(err)
		}
		closers = append(closers, c)
		esp = append(esp, ff)
	}
	size, err := fat.MinSize(esp, "")
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Unix(1700000000, 0)
	writeAtomic(t, path, func(f *os.File) error {
		_, err := disk.Write(f, disk.Layout{Partitions: []disk.Partition{{Type: gpt.TypeESP, Name: bootparams.PartitionESP, Size: size,
			Fill: func(w io.WriterAt, lba uint64) error {
				_, err := fat.Write(w, esp, fat.Options{Size: size, Time: ts, HiddenSectors: uint32(lba)})
				return err
			}}}})
		return err
	})
	return path
}

// TestSecureBootEnrolledKeys boots our enrolled store: systemd-boot and
// the kernel, both signed by our db key, run; the kernel reports Secure
// Boot on and lockdown; PCR 7 holds exactly the policy we wrote and our
// db certificate as the authority; and the store the firmware wrote back
// still parses, with our keys unchanged.
func TestSecureBootEnrolledKeys(t *testing.T) {
	f := newSBFixture(t)
	raw := espDisk(t, filepath.Join(t.TempDir(), "disk.raw"), map[string]string{
		"EFI/BOOT/BOOTX64.EFI":   f.sdBootSB,
		"hardenvm/vmlinuz":       f.oursKernel,
		"hardenvm/initrd.img":    initrd(t, testinitrd.Shell),
		"loader/loader.conf":     "text:timeout 0\ndefault sb.conf\n",
		"loader/entries/sb.conf": "text:title secure boot test\nlinux /hardenvm/vmlinuz\ninitrd /hardenvm/initrd.img\noptions console=ttyS0 panic=-1\n",
	})
	vars := f.varsCopy(t)
	m := boot(t, vm.Config{FirmwareCode: f.code, FirmwareVars: vars, TPM: true,
		Disks: []vm.Disk{{Path: raw, Snapshot: true}}})
	expect(t, m, 4*time.Minute, `EFI stub: UEFI Secure Boot is enabled`)
	expect(t, m, time.Minute, `Kernel is locked down from EFI Secure Boot`)
	expect(t, m, time.Minute, `secureboot: Secure boot enabled`)
	expect(t, m, 2*time.Minute, testinitrd.ReadyMarker)

	m.Console().Send("echo PCR7=$(cat /sys/class/tpm/tpm0/pcr-sha256/7)")
	got := strings.ToLower(expect(t, m, 30*time.Second, `PCR7=([0-9A-Fa-f]{64})`)[1])
	want := hex.EncodeToString(predictPCR7(t, f.vars, f.ours))
	if got != want {
		t.Errorf("PCR 7 = %s, predicted %s", got, want)
	}

	m.Console().Send("poweroff -f")
	if err := m.WaitTimeout(time.Minute); err != nil {
		t.Fatalf("after poweroff: %v", err)
	}
	// The firmware wrote its own variables; ours are as we wrote them.
	before, err := os.ReadFile(f.vars)
	if err != nil {
		t.Fatal(err)
	}
	after, err := os.ReadFile(vars)
	if err != nil {
		t.Fatal(err)
	}
	im, err := efivars.Parse(after)
	if err != nil {
		t.Fatalf("the store the firmware wrote does not parse: %v", err)
	}
	orig, _ := efivars.Parse(before)
	for _, v := range orig.Variables() {
		w, ok := im.Lookup(v.GUID, v.Name)
		if !ok || !bytes.Equal(w.Data, v.Data) || w.Attributes != v.Attributes || w.Time != v.Time {
			t.Errorf("%s changed after boot: %+v", v.Name, w)
		}
	}
	var added []string
	for _, v := range im.Variables() {
		if _, ok := orig.Lookup(v.GUID, v.Name); !ok {
			added = append(added, v.Name)
		}
	}
	t.Logf("after one boot the firmware store has %d variables in %d records (FTW %+v); the firmware added %s",
		len(im.Variables()), len(im.Records), *im.FTW, strings.Join(added, " "))
	if !im.SecureBootEnabled() {
		t.Error("after boot the store no longer enables Secure Boot")
	}
	if len(im.Variables()) <= len(orig.Variables()) {
		t.Errorf("the firmware added no variables (%d): did it boot from this store?", len(im.Variables()))
	}
}

// predictPCR7 computes PCR 7 (sha256) from the enrolled store: the
// EV_EFI_VARIABLE_DRIVER_CONFIG events (SecureBoot=1, PK, KEK, db, and
// dbx, absent: no data), the separator, and one EV_EFI_VARIABLE_AUTHORITY
// for our db entry (edk2 measures each authority once, though it verified
// both systemd-boot and the kernel).
func predictPCR7(t *testing.T, varsPath string, set *keys.Set) []byte {
	t.Helper()
	b, err := os.ReadFile(varsPath)
	if err != nil {
		t.Fatal(err)
	}
	im, err := efivars.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	events := append(im.PolicyEvents(),
		[]byte{0, 0, 0, 0}, // EV_SEPARATOR
		efivars.AuthorityEvent(set.Owner, set.Get(keys.DB).Cert.Raw))
	pcr := make([]byte, 32)
	for _, e := range events {
		d := sha256.Sum256(e)
		s := sha256.Sum256(append(pcr, d[:]...))
		pcr = s[:]
	}
	return pcr
}

// TestSecureBootRefusesOtherKernels offers the firmware two disks, each
// with the kernel as \EFI\BOOT\BOOTX64.EFI: signed by another key set's db
// key, and unsigned. The firmware must refuse both (Access Denied) and no
// kernel code may run: the EFI stub prints to the firmware console as its
// first act, and it prints nothing.
func TestSecureBootRefusesOtherKernels(t *testing.T) {
	f := newSBFixture(t)
	dir := t.TempDir()
	other := espDisk(t, filepath.Join(dir, "other.raw"), map[string]string{"EFI/BOOT/BOOTX64.EFI": f.otherKernel})
	unsigned := espDisk(t, filepath.Join(dir, "unsigned.raw"), map[string]string{"EFI/BOOT/BOOTX64.EFI": f.unsigned})
	m := boot(t, vm.Config{FirmwareCode: f.code, FirmwareVars: f.varsCopy(t),
		Disks: []vm.Disk{{Path: other, Snapshot: true}, {Path: unsigned, Snapshot: true}}})
	refused := regexp.MustCompile(`BdsDxe: failed to load (Boot\w+) "[^"]*" from (\S+): Access Denied`)
	var devices []string
	for len(devices) < 2 {
		subs := expect(t, m, 4*time.Minute, refused.String())
		devices = append(devices, subs[2])
		t.Logf("firmware refused %s from %s", subs[1], subs[2])
	}
	if devices[0] == devices[1] {
		t.Errorf("both refusals name %s; want one per disk", devices[0])
	}
	// Give anything that slipped through time to print, then check that
	// no kernel ran.
	expect(t, m, 2*time.Minute, `BdsDxe: No bootable option or device was found|Shell>|Press ESC|Boot Manager`)
	time.Sleep(3 * time.Second)
	log, err := os.ReadFile(m.Config().SerialLog)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"EFI stub", "Linux version", testinitrd.StartMarker} {
		if bytes.Contains(log, []byte(s)) {
			t.Errorf("the console shows %q: a refused kernel ran", s)
		}
	}
}
