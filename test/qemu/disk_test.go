package qemu

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hardenvm/hardenvm/internal/testenv"
	"github.com/hardenvm/hardenvm/pkg/cpio"
	"github.com/hardenvm/hardenvm/pkg/disk"
	"github.com/hardenvm/hardenvm/pkg/efivars"
	"github.com/hardenvm/hardenvm/pkg/fat"
	"github.com/hardenvm/hardenvm/pkg/vm"
	"github.com/hardenvm/hardenvm/test/qemu/testinitrd"
)

const systemdBoot = "/usr/lib/systemd/boot/efi/systemd-bootx64.efi"

// TestBootFromGPTDisk boots OVMF from a disk written by pkg/disk: the
// firmware must find the ESP in our GPT, read \EFI\BOOT\BOOTX64.EFI
// (systemd-boot) from our FAT32, and systemd-boot must read its
// long-named loader entry and load the kernel and initramfs from it.
// The guest kernel then lists the partitions its own GPT parser found and
// mounts the ESP with Linux's vfat to read a file back byte for byte.
func TestBootFromGPTDisk(t *testing.T) {
	requireQEMU(t)
	code := testenv.File(t, vm.OVMFCodeSecureBoot, "ovmf")
	testenv.File(t, efivars.DefaultTemplate, "ovmf")
	testenv.File(t, systemdBoot, "systemd-boot-efi")
	dir := t.TempDir()

	// The template variable store has no PK: Secure Boot is off, so the
	// unsigned systemd-boot and kernel may run.
	vars := filepath.Join(dir, "OVMF_VARS.fd")
	copyFile(t, efivars.DefaultTemplate, vars)

	var closers []io.Closer
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()
	osFile := func(name, path string) fat.File {
		f, c, err := fat.OSFile(name, path)
		if err != nil {
			t.Fatal(err)
		}
		closers = append(closers, c)
		return f
	}
	text := func(name, s string) fat.File {
		return fat.File{Path: name, Size: int64(len(s)), Data: strings.NewReader(s)}
	}
	bootloader, err := os.ReadFile(systemdBoot)
	if err != nil {
		t.Fatal(err)
	}
	kernel := testKernel(t)
	mods := kernelModules(t, filepath.Join(filepath.Dir(kernel), "modules"), "virtio_blk", "vfat", "nls_cp437", "nls_ascii", "nls_utf8")
	esp := []fat.File{
		osFile("EFI/BOOT/BOOTX64.EFI", systemdBoot),
		osFile("hardenvm/vmlinuz", kernel),
		osFile("hardenvm/initrd.img", diskInitrd(t, mods)),
		text("loader/loader.conf", "timeout 0\ndefault hardenvm-test.conf\n"),
		text("loader/entries/hardenvm-test.conf", "title hardenvm disk test\n"+
			"linux /hardenvm/vmlinuz\ninitrd /hardenvm/initrd.img\noptions console=ttyS0 panic=-1\n"),
		text("Ünïcode name.txt", "long names survive\n"),
	}
	root := patterned(1, 3<<20)
	verity := patterned(2, 64<<10)
	config := patterned(3, 64<<10)
	rootHash := sha256.Sum256([]byte("not a real root hash"))
	raw := filepath.Join(dir, "disk.raw")
	var res *disk.Result
	writeAtomic(t, raw, func(f *os.File) (err error) {
		res, err = disk.Build(f, disk.Image{ESP: esp, Time: time.Unix(1700000000, 0),
			Root: root, RootVerity: verity, RootHash: rootHash[:], Config: config, Free: 16 << 20})
		return err
	})

	m := boot(t, vm.Config{FirmwareCode: code, FirmwareVars: vars,
		Disks: []vm.Disk{{Path: raw, Snapshot: true}}})
	expect(t, m, 3*time.Minute, `BdsDxe: starting Boot\w+`)
	subs := expect(t, m, 3*time.Minute, testinitrd.StartMarker+` kernel=(\S+)\r?\n`)
	t.Logf("systemd-boot loaded kernel %s and its initramfs from our ESP", subs[1])

	// The kernel's own GPT parser sees every partition, with our names,
	// places and sizes.
	out := expect(t, m, time.Minute, `(?s)`+diskPartsBegin+`(.*)`+diskPartsEnd)[1]
	got := regexp.MustCompile(`PARTNAME=(\S+) size=(\d+) start=(\d+)`).FindAllStringSubmatch(out, -1)
	var want, have []string
	for _, p := range res.Table.Partitions {
		want = append(want, fmt.Sprintf("%s %d %d", p.Name, p.LastLBA-p.FirstLBA+1, p.FirstLBA))
	}
	for _, g := range got {
		have = append(have, strings.Join(g[1:4], " "))
	}
	if strings.Join(want, "\n") != strings.Join(have, "\n") {
		t.Errorf("guest sees partitions\n%s\nwant\n%s", strings.Join(have, "\n"), strings.Join(want, "\n"))
	}

	// Linux's vfat reads the ESP: the boot loader byte for byte, and the
	// long, non-ASCII name.
	if got := expect(t, m, time.Minute, diskESPSum+` ([0-9a-f]{64})`)[1]; got != fmt.Sprintf("%x", sha256.Sum256(bootloader)) {
		t.Errorf("guest sha256 of BOOTX64.EFI %s, want %x", got, sha256.Sum256(bootloader))
	}
	if got := expect(t, m, time.Minute, diskESPText+` ([^\r\n]*)\r?\n`)[1]; got != "long names survive" {
		t.Errorf("guest read %q from the long-named file", got)
	}
	if err := m.WaitTimeout(time.Minute); err != nil {
		t.Fatalf("after poweroff: %v", err)
	}
}

// Markers of diskInitrd's /init.
const (
	diskPartsBegin = "HARDENVM-DISK-PARTS-BEGIN"
	diskPartsEnd   = "HARDENVM-DISK-PARTS-END"
	diskESPSum     = "HARDENVM-DISK-ESP-SHA256:"
	diskESPText    = "HARDENVM-DISK-ESP-TEXT:"
)

// diskInitrd is an initramfs that loads mods, lists vda's partitions as the
// kernel sees them, mounts the ESP read-only and reads two files from it.
func diskInitrd(t *testing.T, mods []cpio.Entry) string {
	t.Helper()
	script := `#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /mnt /usr/bin /usr/sbin /sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "` + testinitrd.StartMarker + ` kernel=$(uname -r)"
for m in ` + moduleNames(mods) + `; do insmod /lib/modules/$m.ko || echo "insmod $m failed"; done
i=0; while [ ! -b /dev/vda1 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
echo ` + diskPartsBegin + `
for p in /sys/class/block/vda?; do
  echo "$(grep PARTNAME $p/uevent) size=$(cat $p/size) start=$(cat $p/start)"
done
echo ` + diskPartsEnd + `
mount -t vfat -o ro /dev/vda1 /mnt || echo "mount failed"
echo "` + diskESPSum + ` $(sha256sum /mnt/EFI/BOOT/BOOTX64.EFI)"
echo "` + diskESPText + ` $(cat '/mnt/Ünïcode name.txt')"
poweroff -f
`
	return scriptInitrd(t, script, mods)
}

func copyFile(t testing.TB, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// patterned is n bytes of a pattern of seed, as partition contents.
func patterned(seed byte, n int) *io.SectionReader {
	return section(bytes.Repeat([]byte{seed, seed * 7, seed * 13}, n/3+1)[:n])
}

func section(b []byte) *io.SectionReader {
	return io.NewSectionReader(bytes.NewReader(b), 0, int64(len(b)))
}
