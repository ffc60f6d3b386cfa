package qemu

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hardenvm/hardenvm/boot/bootparams"
	"github.com/hardenvm/hardenvm/boot/measure"
	"github.com/hardenvm/hardenvm/internal/atomicfile"
	"github.com/hardenvm/hardenvm/internal/debtest"
	"github.com/hardenvm/hardenvm/internal/testenv"
	"github.com/hardenvm/hardenvm/pkg/disk"
	"github.com/hardenvm/hardenvm/pkg/fat"
	"github.com/hardenvm/hardenvm/pkg/fstree"
	"github.com/hardenvm/hardenvm/pkg/gpt"
	"github.com/hardenvm/hardenvm/pkg/imagebuild"
	"github.com/hardenvm/hardenvm/pkg/imagespec"
	"github.com/hardenvm/hardenvm/pkg/initramfs"
	"github.com/hardenvm/hardenvm/pkg/rootfs"
	"github.com/hardenvm/hardenvm/pkg/verity"
	"github.com/hardenvm/hardenvm/pkg/vm"
	"github.com/hardenvm/hardenvm/test/qemu/testinitrd"
)

// guest is a disk and initramfs for the guest init's boot tests, built
// the way `hardenvm build` does for images/minimal.yml (without the UKI:
// QEMU loads kernel and initramfs directly).
type guest struct {
	kernel, initrd, disk string
	rootHash             []byte
	cmdline              string
	checkSum             [32]byte // sha256 of /srv/check/data
	checkOff             int64    // where a block of /srv/check/data lies in disk
}

// repoRoot is the source tree (for images/ and the init's package).
func repoRoot(t testing.TB) string {
	_, self, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(self), "..", "..")
}

type guestOptions struct {
	// uuidHash, when set, is the root hash the partition UUIDs are
	// derived from instead of the real one.
	uuidHash []byte
	// free is unpartitioned space for the data partition; with it a
	// service keeps a token in a data directory.
	free int64
}

// The data directory of the tests and what the token service prints.
const (
	testDataDir = "/var/lib/hardenvm-test"
	tokenKey    = "TOKEN="
)

func buildGuest(t testing.TB, opt guestOptions) *guest {
	t.Helper()
	requireQEMU(t)
	g := &guest{kernel: testKernel(t)}
	dir := t.TempDir()
	epoch := time.Unix(1735689600, 0).UTC()

	s, err := imagespec.Load(filepath.Join(repoRoot(t), "images", "minimal.yml"))
	if err != nil {
		t.Fatal(err)
	}
	deb := debtest.Download(t, "busybox-static")
	tr, _, err := rootfs.Unpack([]rootfs.Deb{{Name: "busybox-static", Open: func() (io.ReadCloser, error) { return os.Open(deb) }}},
		rootfs.UnpackOptions{Epoch: epoch})
	if err != nil {
		t.Fatal(err)
	}
	if err := rootfs.Apply(tr, s, epoch); err != nil {
		t.Fatal(err)
	}

	// What the build adds: the init at bootparams.RootInit and the guest
	// settings; and for these tests a file of known contents that a
	// service reads at boot.
	initBin := filepath.Join(dir, "init")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := initramfs.BuildInit(ctx, repoRoot(t), initBin); err != nil {
		t.Fatal(err)
	}
	initData, err := os.ReadFile(initBin)
	if err != nil {
		t.Fatal(err)
	}
	dirH := fstree.Header{Mode: 0o755, Mtime: epoch}
	for _, d := range []string{"/usr/lib/hardenvm", "/etc/hardenvm", "/srv/check", testDataDir} {
		if _, err := tr.MkdirAll(d, dirH); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.WriteFile("/"+bootparams.RootInit, fstree.Header{Mode: 0o755, Mtime: epoch}, fstree.Bytes(initData)); err != nil {
		t.Fatal(err)
	}
	gs := imagebuild.GuestSettings(s)
	gs.Services = append(gs.Services, bootparams.Service{Name: "reader", Command: "/usr/bin/busybox",
		Args: []string{"sha256sum", "/srv/check/data"}, Restart: bootparams.RestartNever, User: "console"},
		// Leaves orphans behind: PID 1 inherits and must reap them.
		bootparams.Service{Name: "orphans", Command: "/usr/bin/busybox",
			Args: []string{"sh", "-c", "for i in 1 2 3; do sleep 1 & done; echo left-orphans"}, Restart: bootparams.RestartNever})
	if opt.free > 0 {
		// Keeps a random token in the data directory: the first boot
		// writes it, later boots print the same one.
		gs.Data = []string{testDataDir}
		gs.Services = append(gs.Services, bootparams.Service{Name: "token", Command: "/usr/bin/busybox",
			Args:    []string{"sh", "-c", "f=" + testDataDir + "/token; [ -f $f ] || cat /proc/sys/kernel/random/uuid > $f; sync; echo " + tokenKey + "$(cat $f)"},
			Restart: bootparams.RestartNever})
	}
	gj, err := bootparams.MarshalGuest(gs)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.WriteFile("/"+bootparams.GuestPath, fstree.Header{Mode: 0o644, Mtime: epoch}, fstree.Bytes(gj)); err != nil {
		t.Fatal(err)
	}
	check := make([]byte, 2<<20)
	rng := rand.New(rand.NewPCG(6, 15))
	for i := range check {
		check[i] = byte(rng.Uint32())
	}
	g.checkSum = sha256.Sum256(check)
	if err := tr.WriteFile("/srv/check/data", fstree.Header{Mode: 0o644, Mtime: epoch}, fstree.Bytes(check)); err != nil {
		t.Fatal(err)
	}

	// Root image, verity tree, disk.
	rootImg := filepath.Join(dir, "root.erofs")
	writeAtomic(t, rootImg, func(f *os.File) error {
		_, err := rootfs.Build(tr, f, rootfs.Options{Epoch: epoch})
		return err
	})
	img, err := os.ReadFile(rootImg)
	if err != nil {
		t.Fatal(err)
	}
	block := check[1<<20 : 1<<20+4096]
	inImage := int64(bytes.Index(img, block))
	if inImage < 0 || inImage%4096 != 0 {
		t.Fatalf("the check file's block is at %d in the image: not found or not block-aligned", inImage)
	}
	hashImg := filepath.Join(dir, "root.verity")
	var res verity.Result
	writeAtomic(t, hashImg, func(f *os.File) error {
		res, err = verity.Format(context.Background(), bytes.NewReader(img), int64(len(img)), f, verity.Params{})
		return err
	})
	tree, err := os.ReadFile(hashImg)
	if err != nil {
		t.Fatal(err)
	}
	g.rootHash = res.RootHash
	uuidHash := g.rootHash
	if opt.uuidHash != nil {
		uuidHash = opt.uuidHash
	}
	g.disk = filepath.Join(dir, "disk.raw")
	readme := "hardenvm init test\n"
	var dr *disk.Result
	writeAtomic(t, g.disk, func(f *os.File) (err error) {
		dr, err = disk.Build(f, disk.Image{
			ESP:  []fat.File{{Path: "README.txt", Size: int64(len(readme)), Data: strings.NewReader(readme)}},
			Time: epoch, Root: section(img), RootVerity: section(tree), RootHash: uuidHash, Free: opt.free,
		})
		return err
	})
	for _, p := range dr.Table.Partitions {
		if p.Name == bootparams.PartitionRoot {
			g.checkOff = int64(p.FirstLBA)*512 + inImage
		}
	}

	// Initramfs: the spec's modules and the init.
	release, err := os.ReadFile(filepath.Join(filepath.Dir(g.kernel), "release"))
	if err != nil {
		t.Fatal(err)
	}
	g.initrd = filepath.Join(dir, "initrd.cpio.gz")
	names := s.Kernel.Modules
	err = atomicfile.Write(g.initrd, 0o644, func(w io.Writer) error {
		_, err := initramfs.Write(w, initramfs.Input{Init: initData, Modules: os.DirFS(filepath.Join(filepath.Dir(g.kernel), "modules")),
			Names: names, Release: strings.TrimSpace(string(release)), Mtime: epoch})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	g.cmdline, err = bootparams.Params{RootHash: hex.EncodeToString(g.rootHash), Corruption: s.Verity.Corruption}.Cmdline()
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func writeAtomic(t testing.TB, path string, fn func(*os.File) error) {
	t.Helper()
	f, err := atomicfile.Create(path, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Abort()
	if err := fn(f.File); err != nil {
		t.Fatal(err)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
}

// noTimerCheck keeps the kernel from panicking in its IO-APIC timer check
// ("IO-APIC + timer doesn't work!") when TCG is slowed down by a loaded
// host; seen on the shared test machine.
const noTimerCheck = " no_timer_check"

func (g *guest) boot(t *testing.T, cmdline, diskPath string) *vm.Machine {
	t.Helper()
	return g.bootNet(t, cmdline, diskPath, nil)
}

func (g *guest) bootNet(t *testing.T, cmdline, diskPath string, net *vm.Net) *vm.Machine {
	t.Helper()
	return boot(t, vm.Config{Kernel: g.kernel, Initrd: g.initrd, Append: cmdline + noTimerCheck,
		Disks: []vm.Disk{{Path: diskPath}}, TPM: true, Net: net})
}

// ask sends a shell command whose output is KEY=value and returns value.
// The key is split in the command ("K""EY=") so the echoed command line
// never matches.
func ask(t *testing.T, m *vm.Machine, key, cmd string) string {
	t.Helper()
	if err := m.Console().Send(`echo "` + key[:1] + `""` + key[1:] + `=$(` + cmd + `)"`); err != nil {
		t.Fatal(err)
	}
	return expect(t, m, 30*time.Second, regexp.QuoteMeta(key)+`=([^\r\n]*)\r?\n`)[1]
}

// TestInitVerifiedBoot boots the minimal image through hardenvm-init and
// checks, in one boot: the kernel's dm table carries the signed root hash
// and the corruption policy; / is the verity device, read-only; a service
// reads a file byte for byte; PCR 15 in the guest equals the replay of
// the init's event log and the prediction from the root hash; the
// console is unprivileged and cannot change anything; the NIC got its
// address by DHCP and reaches a host service through QEMU's restricted
// user network; and the ACPI power button shuts the VM down in order.
func TestInitVerifiedBoot(t *testing.T) {
	g := buildGuest(t, guestOptions{})
	hexRoot := hex.EncodeToString(g.rootHash)
	token := fmt.Sprintf("host-token-%d", time.Now().UnixNano())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, token) }))
	defer srv.Close()
	start := time.Now()
	m := g.bootNet(t, g.cmdline, g.disk, &vm.Net{GuestForwards: []vm.GuestForward{
		{GuestAddr: "10.0.2.100:8080", Target: srv.Listener.Addr().String()}}})

	if got := expect(t, m, 2*time.Minute, `hardenvm-init: stage 1 on kernel \S+, root hash \S+, \S+, lockdown (\w+)`)[1]; got != "integrity" {
		t.Errorf("lockdown %q, want integrity (lockdown=integrity on the command line)", got)
	}
	table := expect(t, m, 2*time.Minute, `hardenvm-init: dm table root: ([^\r\n]*)\r?\n`)[1]
	if f := strings.Fields(table); len(f) < 14 || f[2] != "verity" || f[11] != hexRoot || !strings.Contains(table, " 1 "+bootparams.RestartOnCorruption) {
		t.Errorf("dm table %q: want verity with root hash %s and %s", table, hexRoot, bootparams.RestartOnCorruption)
	}
	if got := expect(t, m, 30*time.Second, `hardenvm-init: root verified ([0-9a-f]{64})`)[1]; got != hexRoot {
		t.Errorf("root verified %s, want %s", got, hexRoot)
	}
	predicted := measure.Predict(g.rootHash, nil)
	if got := expect(t, m, 30*time.Second, `hardenvm-init: PCR 15 ([0-9a-f]{64})`)[1]; got != hex.EncodeToString(predicted[:]) {
		t.Errorf("init read PCR 15 = %s, predicted %x", got, predicted)
	}
	// QEMU's restricted user network hands out an address but no router.
	if got := expect(t, m, time.Minute, `hardenvm-init: network (\S+) (\S+),`); got[2] != "10.0.2.15/24" {
		t.Errorf("network: %q, want 10.0.2.15/24 (QEMU's user network)", got[0])
	}
	expect(t, m, time.Minute, `hardenvm-init: READY`)
	t.Logf("kernel start to READY: %v (%s)", time.Since(start).Round(100*time.Millisecond), m.Accel)
	if got := seen(t, m, time.Minute, `\[reader\] ([0-9a-f]{64})  /srv/check/data`)[1]; got != hex.EncodeToString(g.checkSum[:]) {
		t.Errorf("guest read sha256 %s, host %x", got, g.checkSum)
	}
	// The console's prompt may come before or after the service's output:
	// the first question below waits for the shell either way.

	if got := ask(t, m, "ROOTMOUNT", "grep ' / ' /proc/mounts"); !strings.HasPrefix(got, "/dev/mapper/root / erofs ro,") {
		t.Errorf("/ is mounted as %q, want /dev/mapper/root erofs ro", got)
	}
	if got := ask(t, m, "IDS", "echo $(id -u) $(id -G)"); got != "1000 1000" {
		t.Errorf("console ids %q, want uid 1000 in group 1000 only", got)
	}
	if got := ask(t, m, "CAPS", "grep -E '^(CapEff|CapPrm|CapBnd|CapAmb|NoNewPrivs)' /proc/self/status | tr -s '\\t\\n' '  '"); got != "CapPrm: 0000000000000000 CapEff: 0000000000000000 CapBnd: 0000000000000000 CapAmb: 0000000000000000 NoNewPrivs: 1 " {
		t.Errorf("console privileges: %q", got)
	}
	if got := ask(t, m, "CMDLINE", "cat /proc/cmdline"); !strings.Contains(got, "hardenvm.roothash="+hexRoot) {
		t.Errorf("/proc/cmdline from the console: %q", got)
	}
	for _, c := range []struct{ key, cmd string }{
		{"TOUCHETC", "touch /etc/x"},
		{"TOUCHTMP", "touch /tmp/x"},
		{"TOUCHRUN", "touch /run/x"},
		{"REMOUNT", "mount -o remount,rw /"},
		{"RAWDISK", "head -c 512 /dev/vda | wc -c | grep -q 512"},
		{"DMTABLE", "head -c 1 /dev/mapper/root | wc -c | grep -q 1"},
		{"KILLINIT", "kill -TERM 1"},
		{"DATADIR", "touch " + testDataDir + "/x"},
	} {
		if got := ask(t, m, c.key, c.cmd+" >/dev/null 2>&1 && echo allowed || echo refused"); got != "refused" {
			t.Errorf("console: %q was %s", c.cmd, got)
		}
	}

	if got := ask(t, m, "SVCLOG", "head -c 64 /run/hardenvm/log/reader.log"); got != hex.EncodeToString(g.checkSum[:]) {
		t.Errorf("the console read %q from the reader's log file", got)
	}
	seen(t, m, time.Minute, `\[orphans\] left-orphans`)
	time.Sleep(2 * time.Second) // the orphans' sleep 1
	if got := ask(t, m, "ZOMBIES", "cat /proc/[0-9]*/stat | awk '$3 == \"Z\"' | wc -l"); got != "0" {
		t.Errorf("%s zombies: PID 1 does not reap orphans", got)
	}
	if got := ask(t, m, "INSMOD", "insmod /"+bootparams.RootInit+" 2>&1"); !strings.Contains(got, "Operation not permitted") {
		t.Errorf("console: insmod said %q, want Operation not permitted", got)
	}

	// PCR 15 from the kernel's sysfs against the replay of the log.
	pcr := strings.ToLower(ask(t, m, "PCR15", "cat /sys/class/tpm/tpm0/pcr-sha256/15"))
	logText := ask(t, m, "PCRLOG", "tr '\\n' '|' < "+measure.LogPath)
	events, err := measure.ParseLog(strings.NewReader(strings.ReplaceAll(logText, "|", "\n")))
	if err != nil {
		t.Fatalf("event log %q: %v", logText, err)
	}
	replay := measure.Replay(events)
	if pcr != hex.EncodeToString(replay[:]) {
		t.Errorf("PCR 15 in the guest %s, replay of the log %x (log %q)", pcr, replay, logText)
	}
	if replay != predicted {
		t.Errorf("the log replays to %x, predicted from the root hash %x", replay, predicted)
	}
	if len(events) != 2 || events[0] != measure.RootHash(g.rootHash) || events[1] != measure.EnterUserspace() {
		t.Errorf("events %q", events)
	}

	if got := ask(t, m, "HOSTSVC", "wget -qO- http://10.0.2.100:8080/"); got != token {
		t.Errorf("the host service answered %q through the guest forward, want %q", got, token)
	}

	if err := m.Powerdown(); err != nil {
		t.Fatal(err)
	}
	expect(t, m, 30*time.Second, `hardenvm-init: shutting down \(ACPI power button\)`)
	expect(t, m, 30*time.Second, `hardenvm-init: powering off`)
	if err := m.WaitTimeout(30 * time.Second); err != nil {
		t.Errorf("after the power button: %v", err)
	}
}

// TestInitCorruptedRoot flips one byte of a root file system block on the
// disk: stage 1 still verifies the tree's top (the hash tree is intact),
// but reading the file makes dm-verity report the block and, per policy,
// restart the VM or panic the kernel (which reboots after panic=10); the
// file's contents never reach the guest.
func TestInitCorruptedRoot(t *testing.T) {
	g := buildGuest(t, guestOptions{})
	f, err := os.OpenFile(g.disk, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	f.ReadAt(b, g.checkOff+100)
	b[0] ^= 0x40
	if _, err := f.WriteAt(b, g.checkOff+100); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, tt := range []struct{ policy, want string }{
		{bootparams.RestartOnCorruption, "reboot: Restarting system"},
		{bootparams.PanicOnCorruption, "Kernel panic - not syncing: dm-verity device corrupted"},
	} {
		t.Run(tt.policy, func(t *testing.T) {
			cmdline := strings.Replace(g.cmdline, "hardenvm.verity="+bootparams.RestartOnCorruption, "hardenvm.verity="+tt.policy, 1)
			m := g.boot(t, cmdline, g.disk)
			table := expect(t, m, 2*time.Minute, `hardenvm-init: dm table root: ([^\r\n]*)\r?\n`)[1]
			if !strings.HasSuffix(table, " 1 "+tt.policy) {
				t.Errorf("dm table %q lacks %s", table, tt.policy)
			}
			expect(t, m, time.Minute, `hardenvm-init: root verified`)
			expect(t, m, time.Minute, `device-mapper: verity: \d+:\d+: data block \d+ is corrupted`)
			if err := m.WaitTimeout(time.Minute); err != nil {
				t.Errorf("after the corruption: %v", err)
			}
			out := m.Console().Output()
			if !strings.Contains(out, tt.want) {
				t.Errorf("console lacks %q; tail: %s", tt.want, m.Console().Tail(10))
			}
			if regexp.MustCompile(`\[reader\] [0-9a-f]{64}`).MatchString(out) {
				t.Error("the corrupted file was read to the end")
			}
		})
	}
}

// TestInitRefusesWrongRoot boots with root hashes that don't fit the
// disk: each stops in stage 1 with one FATAL line and the VM powers off;
// nothing is mounted.
func TestInitRefusesWrongRoot(t *testing.T) {
	wrong := sha256.Sum256([]byte("some other image"))
	for _, tt := range []struct {
		name string
		opt  guestOptions
		want string
	}{
		// The partition UUIDs were rewritten to match another root hash,
		// but the verity tree is the real one.
		{"tree does not match", guestOptions{uuidHash: wrong[:]}, `root hash mismatch: the verity tree on /dev/vda\d has root hash [0-9a-f]{64}, the signed command line says ` + hex.EncodeToString(wrong[:])},
		// A command line for another disk.
		{"no such partition", guestOptions{}, `no root partition with UUID [0-9a-f-]{36} \(from hardenvm.roothash\): vda partition 2 has UUID`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := buildGuest(t, tt.opt)
			cmdline := strings.Replace(g.cmdline, hex.EncodeToString(g.rootHash), hex.EncodeToString(wrong[:]), 1)
			m := g.boot(t, cmdline, g.disk)
			line := expect(t, m, 2*time.Minute, `hardenvm-init: FATAL: ([^\r\n]*)\r?\n`)[1]
			if !regexp.MustCompile(tt.want).MatchString(line) {
				t.Errorf("FATAL line %q, want %q", line, tt.want)
			}
			if err := m.WaitTimeout(time.Minute); err != nil {
				t.Errorf("after FATAL: %v", err)
			}
			out := m.Console().Output()
			if n := strings.Count(out, "hardenvm-init: FATAL:"); n != 1 {
				t.Errorf("%d FATAL lines", n)
			}
			for _, bad := range []string{"root verified", "READY", "Kernel panic"} {
				if strings.Contains(out, bad) {
					t.Errorf("console shows %q after a refused root", bad)
				}
			}
		})
	}
}

// seen waits for pattern anywhere in the console output, also before
// what earlier expects consumed (for lines whose order is not fixed).
func seen(t *testing.T, m *vm.Machine, d time.Duration, pattern string) []string {
	t.Helper()
	re := regexp.MustCompile(pattern)
	for deadline := time.Now().Add(d); ; time.Sleep(100 * time.Millisecond) {
		if sub := re.FindStringSubmatch(m.Console().Output()); sub != nil {
			return sub
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q not on the console within %v; tail: %s", pattern, d, m.Console().Tail(10))
		}
	}
}

// TestInitDataPartition boots the same disk twice. The first boot creates
// the data partition in the free space, formats it, and a service writes
// a token into its data directory; the power button shuts the VM down,
// and e2fsck on the host finds the file system clean, with the service's
// log file on it. The second boot (hardenvm.console=none: no console)
// finds the partition, leaves it unformatted, and reads the same token.
func TestInitDataPartition(t *testing.T) {
	e2fsck := testenv.Tool(t, "e2fsck", "e2fsprogs")
	debugfs := testenv.Tool(t, "debugfs", "e2fsprogs")
	g := buildGuest(t, guestOptions{free: 64 << 20})
	tokens := make([]string, 2)
	for i := range tokens {
		cmdline := g.cmdline
		if i == 1 {
			cmdline = strings.Replace(cmdline, "hardenvm.console="+bootparams.ConsoleShell, "hardenvm.console="+bootparams.ConsoleNone, 1)
		}
		m := g.boot(t, cmdline, g.disk)
		expect(t, m, 2*time.Minute, `hardenvm-init: data partition /dev/vda\d mounted on `+regexp.QuoteMeta(bootparams.DataMount))
		tokens[i] = seen(t, m, time.Minute, `\[token\] `+tokenKey+`([0-9a-f-]{36})`)[1]
		seen(t, m, time.Minute, `hardenvm-init: READY`)
		if i == 0 {
			seen(t, m, time.Minute, `hardenvm-init: read-only console as console`)
		} else {
			seen(t, m, time.Minute, `hardenvm-init: console disabled \(hardenvm.console=none\)`)
		}
		out := m.Console().Output()
		created := strings.Contains(out, "created data partition") && strings.Contains(out, "formatting the data partition")
		if created != (i == 0) {
			t.Errorf("boot %d: created and formatted the data partition: %v", i+1, created)
		}
		if err := m.Powerdown(); err != nil {
			t.Fatal(err)
		}
		expect(t, m, 30*time.Second, `hardenvm-init: powering off`)
		if err := m.WaitTimeout(30 * time.Second); err != nil {
			t.Fatalf("boot %d: after the power button: %v", i+1, err)
		}
		out = m.Console().Output()
		if strings.Contains(out, "WARNING") {
			t.Errorf("boot %d: warnings on the console: %s", i+1, m.Console().Tail(20))
		}
		if consoleUp := strings.Contains(out, "read-only console as"); consoleUp != (i == 0) {
			t.Errorf("boot %d: console started: %v", i+1, consoleUp)
		}
		img := fsckData(t, e2fsck, g.disk)
		log, err := exec.Command(debugfs, "-R", "cat /log/token.log", img).Output()
		if err != nil || strings.Count(string(log), tokenKey+tokens[0]) != i+1 {
			t.Errorf("boot %d: the token service's log on the data partition: %q (%v)", i+1, log, err)
		}
	}
	if tokens[0] != tokens[1] {
		t.Errorf("token %s after the first boot, %s after the second", tokens[0], tokens[1])
	}
}

// fsckData copies the data partition out of the disk, checks it with
// e2fsck -fn (no changes; exit 0 only when clean) and returns the copy.
func fsckData(t *testing.T, e2fsck, diskPath string) string {
	t.Helper()
	f, err := os.Open(diskPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	tb, err := gpt.Read(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range tb.Partitions {
		if p.Name != bootparams.DataPartitionName {
			continue
		}
		if p.Type != gpt.TypeLinuxData {
			t.Errorf("data partition type %s", p.Type)
		}
		img := filepath.Join(t.TempDir(), "data.img")
		out, err := os.Create(img)
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.Copy(out, io.NewSectionReader(f, int64(p.FirstLBA)*512, int64(p.LastLBA-p.FirstLBA+1)*512))
		out.Close()
		if err != nil {
			t.Fatal(err)
		}
		if b, err := exec.Command(e2fsck, "-fn", img).CombinedOutput(); err != nil {
			t.Errorf("e2fsck -fn of the data partition: %v\n%s", err, b)
		}
		return img
	}
	t.Fatalf("no %s partition on the disk: %+v", bootparams.DataPartitionName, tb.Partitions)
	return ""
}

// BenchmarkBootToReady measures, under the accelerator the harness picks
// (TCG here), the time from starting QEMU to the ready marker: the
// hardened chain (verity root, PCR 15, stage 2) against the plain test
// initramfs (busybox, no verification), both with a TPM.
func BenchmarkBootToReady(b *testing.B) {
	requireQEMU(b)
	g := buildGuest(b, guestOptions{})
	plain := initrd(b, testinitrd.Poweroff)
	for _, c := range []struct {
		name   string
		cfg    vm.Config
		marker string
	}{
		{"hardened", vm.Config{Kernel: g.kernel, Initrd: g.initrd, Append: g.cmdline + noTimerCheck,
			Disks: []vm.Disk{{Path: g.disk}}, TPM: true}, "hardenvm-init: READY"},
		{"plain", vm.Config{Kernel: g.kernel, Initrd: plain, Append: "console=ttyS0 panic=-1" + noTimerCheck, TPM: true},
			testinitrd.ReadyMarker},
	} {
		b.Run(c.name, func(b *testing.B) {
			var total time.Duration
			for range b.N {
				cfg := c.cfg
				cfg.StateDir = b.TempDir()
				start := time.Now()
				m, err := vm.Start(context.Background(), cfg, nil)
				if err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
				err = m.Console().ExpectString(ctx, c.marker)
				cancel()
				total += time.Since(start)
				m.Stop()
				if err != nil {
					b.Fatalf("%s: %v; tail: %s", c.name, err, m.Console().Tail(10))
				}
			}
			b.ReportMetric(total.Seconds()/float64(b.N), "s/ready")
		})
	}
}
