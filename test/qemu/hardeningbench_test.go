package qemu

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hardenvm/hardenvm/internal/testenv"
	"github.com/hardenvm/hardenvm/pkg/efivars"
	"github.com/hardenvm/hardenvm/pkg/imagedir"
	"github.com/hardenvm/hardenvm/pkg/vm"
)

// What the hardening of the desktop image costs, side by side: the same
// image built normally (Secure Boot, TPM and PCR 15, dm-verity root,
// verified config) and with `hardenvm build --unhardened-for-benchmarks`
// (OVMF without Secure Boot, no TPM, the root partition mounted directly,
// the config unverified), booted alternately on the same accelerator.

// benchRounds are the samples the guest's hardening-bench service takes
// per boot, each after dropping the guest's caches (after one untimed
// pass that leaves the disk's blocks in the host's page cache).
const benchRounds = 3

// bootRounds are the boots of each image, alternating: on a shared
// machine the same image's boot to READY varied from 29 to 65 s.
const bootRounds = 3

// withHardeningBench adds the guest side of the benchmark
// (test/qemu/cmd/hardeningbench) to the desktop spec as a root service
// that stays idle until the engine answers, then times its reads and
// prints them on the console.
var withHardeningBench = desktopVariant{
	edits: [][2]string{
		{"\nservices:\n", "\nservices:\n  - name: hardening-bench\n    command: /usr/libexec/hardenvm/hardening-bench\n    args: [\"" + strconv.Itoa(benchRounds) + "\"]\n    restart: never\n"},
		{"\nfiles:\n", "\nfiles:\n  - path: /usr/libexec/hardenvm/hardening-bench\n    source: bin/hardening-bench\n    mode: \"0755\"\n"},
	},
	programs: map[string]string{"hardening-bench": "test/qemu/cmd/hardeningbench"},
}

// uncompressed is v with the root stored uncompressed.
func uncompressed(v desktopVariant) desktopVariant {
	v.edits = append(append([][2]string{}, v.edits...), [2]string{"\n  compression: lz4hc\n", "\n  compression: none\n"})
	return v
}

func unhardened(v desktopVariant) desktopVariant {
	v.unhardened = true
	return v
}

// bootUntilReady boots an image's disk (a snapshot: nothing is written)
// as `hardenvm run` does for it: a hardened image on OVMF Secure Boot with
// its enrolled variable store and a TPM, an unhardened one on OVMF
// without Secure Boot, a blank store and no TPM. It waits for the init's
// READY (the engine answers /_ping) and returns the time from the VM's
// start, after checking how the root was mounted.
func bootUntilReady(tb testing.TB, img string, unhardened bool) (*vm.Machine, time.Duration) {
	tb.Helper()
	code, vars, tpm, root := vm.OVMFCodeSecureBoot, filepath.Join(img, imagedir.Vars), true, `hardenvm-init: root verified [0-9a-f]{64}`
	if unhardened {
		code, vars, tpm, root = vm.OVMFCodeNoSecureBoot, efivars.DefaultTemplate, false, `hardenvm-init: root mounted UNVERIFIED from /dev/\w+`
	}
	testenv.File(tb, code, "ovmf")
	state := tb.TempDir()
	varsCopy := filepath.Join(state, imagedir.Vars)
	copyFile(tb, vars, varsCopy)
	start := time.Now()
	m := boot(tb, vm.Config{
		StateDir: state, FirmwareCode: code, FirmwareVars: varsCopy, TPM: tpm, MemoryMiB: 2048,
		Disks: []vm.Disk{{Path: filepath.Join(img, imagedir.Disk), Snapshot: true}},
	})
	expect(tb, m, 6*time.Minute, root)
	expect(tb, m, 8*time.Minute, `hardenvm-init: READY`)
	return m, time.Since(start)
}

// guestReads collects the hardening-bench service's samples (seconds) of
// a booted image, keyed "read" and "walk", and the file it read.
func guestReads(tb testing.TB, m *vm.Machine) (map[string][]float64, string) {
	tb.Helper()
	got := map[string][]float64{}
	file := ""
	re := regexp.MustCompile(`hardening-bench: (read|walk|FAIL|done)\b(.*)`)
	for {
		subs := expect(tb, m, 10*time.Minute, re.String())
		switch subs[1] {
		case "FAIL":
			tb.Fatalf("hardening-bench: FAIL%s", subs[2])
		case "done":
			return got, file
		}
		f := strings.Fields(subs[2]) // NAME COUNT SECONDS
		if len(f) != 3 {
			tb.Fatalf("hardening-bench: %q", subs[0])
		}
		s, err := strconv.ParseFloat(f[2], 64)
		if err != nil {
			tb.Fatalf("hardening-bench: %q: %v", subs[0], err)
		}
		if subs[1] == "read" {
			file = f[0] + " (" + f[1] + " bytes)"
		}
		got[subs[1]] = append(got[subs[1]], s)
	}
}

// BenchmarkDesktopHardeningOverhead is the hardening's cost in the
// desktop VM under TCG, three lines (ours: hardened, peer: unhardened;
// seconds, medians):
//
//   - boot-to-engine-ready: QEMU's start to the init's READY (dockerd
//     answers), the desktop image against the same image built with
//     --unhardened-for-benchmarks, both with the root compressed (lz4hc);
//     target ratio 1.10;
//   - read-large-file: a sequential read of a large binary of the root
//     (/usr/bin/ctr, 27 MB) after dropping the caches, on the verity +
//     lz4hc root against an unverified uncompressed one;
//   - walk-usr: lstat of every entry under /usr after dropping the
//     caches, on the same two roots.
//
// The three images carry the guest side (test/qemu/cmd/hardeningbench),
// a root service that stays idle until the engine answers; each round
// boots them in turn (hardened, unhardened lz4hc, unhardened
// uncompressed), and the unhardened lz4hc boot's reads are logged too, to
// tell verity's share from compression's. Three rounds, three samples of
// each read per boot after an untimed pass (the host's page cache then
// holds the disk's blocks: the samples time the guest's block layer,
// dm-verity and EROFS, not the host's disk); builds and boots take
// 15–30 minutes:
//
//	HARDENVM_REQUIRE_QEMU=1 go test ./test/qemu -run '^$' -bench DesktopHardeningOverhead -benchtime=1x -timeout 60m
func BenchmarkDesktopHardeningOverhead(b *testing.B) {
	requireQEMU(b)
	testenv.File(b, efivars.DefaultTemplate, "ovmf")
	keysDir := newKeys(b)
	init, agent := guestInit(b), guestAgent(b)
	images := []struct {
		name       string
		variant    desktopVariant
		unhardened bool
	}{
		{"hardened", withHardeningBench, false},
		{"unhardened", unhardened(withHardeningBench), true},
		{"unhardened-uncompressed", unhardened(uncompressed(withHardeningBench)), true},
	}
	// The parent's own log is not printed once it has sub-benchmarks,
	// and a benchmark's is cut at 10 lines: the first line's log carries
	// these few.
	var notes []string
	dirs := make([]string, len(images))
	built := ""
	for i, im := range images {
		start := time.Now()
		dirs[i] = buildDesktopVariant(b, keysDir, "desktop", "amd64", init, agent, im.variant)
		built += fmt.Sprintf(" %s %v", im.name, time.Since(start).Round(time.Second))
	}
	notes = append(notes, "built"+built)
	file := ""
	boots := map[string][]float64{}
	reads := map[string]map[string][]float64{}
	for round := range bootRounds {
		for i, im := range images {
			m, d := bootUntilReady(b, dirs[i], im.unhardened)
			var r map[string][]float64
			r, file = guestReads(b, m)
			m.Stop()
			b.Logf("round %d %s (%s): engine ready after %.1fs", round+1, im.name, m.Accel, d.Seconds())
			boots[im.name] = append(boots[im.name], d.Seconds())
			if reads[im.name] == nil {
				reads[im.name] = map[string][]float64{}
			}
			for k, v := range r {
				reads[im.name][k] = append(reads[im.name][k], v...)
			}
		}
	}
	for _, im := range images {
		notes = append(notes, fmt.Sprintf("%s: engine ready %.1f s; read %s %v s; walk /usr %v s",
			im.name, boots[im.name], file, reads[im.name]["read"], reads[im.name]["walk"]))
	}
	notes = append(notes, fmt.Sprintf("verity's share: read %.2fs hardened vs %.2fs unhardened, same lz4hc root; walk %.2fs vs %.2fs",
		median(reads["hardened"]["read"]), median(reads["unhardened"]["read"]), median(reads["hardened"]["walk"]), median(reads["unhardened"]["walk"])))
	for _, line := range []struct {
		name        string
		ours, peer  []float64
		targetRatio float64
		what        string
	}{
		{"boot-to-engine-ready", boots["hardened"], boots["unhardened"], 1.10, "hardened vs unhardened, both lz4hc"},
		{"read-large-file", reads["hardened"]["read"], reads["unhardened-uncompressed"]["read"], 0, "verity + lz4hc vs plain uncompressed"},
		{"walk-usr", reads["hardened"]["walk"], reads["unhardened-uncompressed"]["walk"], 0, "verity + lz4hc vs plain uncompressed"},
	} {
		b.Run(line.name, func(b *testing.B) {
			for _, n := range notes {
				b.Log(n)
			}
			notes = nil
			ours, peer := median(line.ours), median(line.peer)
			b.Logf("%s: %s: %.2fs vs %.2fs (samples %v vs %v), ratio %.2f", line.name, line.what, ours, peer, line.ours, line.peer, ours/peer)
			b.ReportMetric(ours, "ours-s")
			b.ReportMetric(peer, "peer-s")
			b.ReportMetric(ours/peer, "ratio")
			if line.targetRatio > 0 {
				b.ReportMetric(line.targetRatio, "target-ratio-s")
			}
		})
	}
}

// TestUnhardenedDesktop is the benchmark-only build option in CI: the
// desktop image built with --unhardened-for-benchmarks boots under
// `hardenvm run --insecure-skip-verify` (OVMF without Secure Boot, no
// TPM) until the engine answers, with its root mounted straight from the
// partition (no dm-verity) and its config unverified; `hardenvm verify`
// refuses it in one line; and its disk booted under Secure Boot (the
// UKI is signed by the enrolled db key) stops in the init, which refuses
// the unhardened command line there.
func TestUnhardenedDesktop(t *testing.T) {
	requireQEMU(t)
	testenv.Tool(t, "docker", "docker.io")
	testenv.File(t, vm.OVMFCodeNoSecureBoot, "ovmf")
	keysDir := newKeys(t)
	img := buildDesktopVariant(t, keysDir, "desktop", "amd64", guestInit(t), guestAgent(t), desktopVariant{unhardened: true})
	cli := hardenvmBinary(t)

	out, err := exec.Command(cli, "verify", img, "--keys", keysDir).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "unhardened benchmark image") {
		t.Errorf("hardenvm verify of an unhardened image: %v\n%s", err, out)
	}

	d := desktopRun{cli: cli, img: img, keysDir: keysDir, state: filepath.Join(t.TempDir(), "state"),
		context: fmt.Sprintf("hvunhardened%d", os.Getpid()), dockerConfig: t.TempDir(),
		extra: []string{"--insecure-skip-verify"}, stderr: &lockedBuffer{}}
	stop := d.start(t)
	if got, err := d.docker("info", "--format", "{{.ServerVersion}}"); err != nil || got == "" {
		t.Errorf("docker info on the unhardened VM: %q, %v", got, err)
	}
	stop()
	serial, _ := os.ReadFile(filepath.Join(d.state, "serial.log"))
	for _, want := range []string{"hardenvm-init: UNHARDENED benchmark image", "hardenvm-init: root mounted UNVERIFIED from /dev/vda", "config partition /dev/vda", "mounted UNVERIFIED", "hardenvm-init: READY"} {
		if !strings.Contains(string(serial), want) {
			t.Errorf("serial log lacks %q", want)
		}
	}
	for _, bad := range []string{"hardenvm-init: root verified", "dm table root", "PCR 15"} {
		if strings.Contains(string(serial), bad) {
			t.Errorf("serial log of the unhardened boot says %q", bad)
		}
	}
	if !strings.Contains(d.stderr.String(), "is an UNHARDENED benchmark image") {
		t.Errorf("run did not warn: %s", d.stderr.String())
	}

	// Under Secure Boot the signed unhardened UKI starts, and the init
	// refuses it.
	state := t.TempDir()
	varsCopy := filepath.Join(state, imagedir.Vars)
	copyFile(t, filepath.Join(img, imagedir.Vars), varsCopy)
	m := boot(t, vm.Config{StateDir: state, FirmwareCode: vm.OVMFCodeSecureBoot, FirmwareVars: varsCopy, TPM: true,
		Disks: []vm.Disk{{Path: filepath.Join(img, imagedir.Disk), Snapshot: true}}})
	subs := expect(t, m, 5*time.Minute, `hardenvm-init: FATAL: (.*)`)
	if !strings.Contains(subs[1], "under Secure Boot: refusing") {
		t.Errorf("init under Secure Boot: FATAL %q, want the refusal", subs[1])
	}
	if strings.Contains(m.Console().Output(), "root mounted UNVERIFIED") {
		t.Error("the init mounted the root unverified under Secure Boot")
	}
}
