package imagebuild

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/hardenvm/hardenvm/internal/testenv"
	"github.com/hardenvm/hardenvm/pkg/efivars"
)

// BenchmarkDesktopBuild times `hardenvm build images/desktop.yml` as a
// user runs it, in a child process (for its peak memory), with the
// download cache warm (`warm`: --no-cache, every stage runs; targets 8 s
// and 400 MiB) and with nothing changed since the last build
// (`no-change`: the stage cache reuses the root, the initramfs, the SBOM;
// target 2 s; its peer is the warm build of the same run). Set
// HARDENVM_BENCH_PEER to another hardenvm binary (an older commit's) to
// measure its warm build beside ours as the warm line's peer. It needs
// `make build` (the guest binaries in bin/ and images/bin/) and the
// desktop image's packages (fetched on the first run).
func BenchmarkDesktopBuild(b *testing.B) {
	root, err := filepath.Abs("../..")
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range []string{"bin/hardenvm-init", "bin/hardenvm-agent", "images/bin/hardenvm-runc"} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			if testenv.Required() {
				b.Fatalf("%s missing: run make build", f)
			}
			b.Skipf("%s missing: run make build", f)
		}
	}
	testenv.File(b, efivars.DefaultTemplate, "ovmf")
	dir := b.TempDir()
	exe := filepath.Join(dir, "hardenvm")
	if out, err := exec.Command("go", "build", "-trimpath", "-o", exe, "../../cmd/hardenvm").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	keysDir := filepath.Join(dir, "keys")
	if out, err := exec.Command(exe, "keys", "init", "--keys", keysDir).CombinedOutput(); err != nil {
		b.Fatalf("keys init: %v\n%s", err, out)
	}
	build := func(b *testing.B, exe string, extra ...string) (time.Duration, float64) {
		b.Helper()
		args := append([]string{"build", filepath.Join(root, "images/desktop.yml"), "-o", filepath.Join(dir, "out"), "--keys", keysDir,
			"--init", filepath.Join(root, "bin/hardenvm-init"), "--agent", filepath.Join(root, "bin/hardenvm-agent")}, extra...)
		cmd := exec.Command(exe, args...)
		start := time.Now()
		out, err := cmd.CombinedOutput()
		took := time.Since(start)
		if err != nil {
			b.Fatalf("%s %v: %v\n%s", exe, args, err, out)
		}
		return took, float64(cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss) / 1024
	}
	// Fill the download and decompressed caches; not timed.
	build(b, exe, "--no-cache")
	var warm time.Duration
	b.Run("warm", func(b *testing.B) {
		var mem float64
		for range b.N {
			t, m := build(b, exe, "--no-cache")
			warm += t
			mem = max(mem, m)
		}
		warm /= time.Duration(b.N)
		b.ReportMetric(warm.Seconds(), "ours-s")
		b.ReportMetric(8, "target-s")
		b.ReportMetric(mem, "ours-MiB")
		b.ReportMetric(400, "target-MiB")
		if peer := os.Getenv("HARDENVM_BENCH_PEER"); peer != "" {
			build(b, peer) // its own caches, if it has any
			t, m := build(b, peer)
			b.ReportMetric(t.Seconds(), "peer-s")
			b.ReportMetric(m, "peer-MiB")
		}
	})
	b.Run("no-change", func(b *testing.B) {
		build(b, exe) // fills the stage cache for these inputs
		var total time.Duration
		for range b.N {
			t, _ := build(b, exe)
			total += t
		}
		avg := total / time.Duration(b.N)
		b.ReportMetric(avg.Seconds(), "ours-s")
		b.ReportMetric(warm.Seconds(), "peer-s")
		b.ReportMetric(2, "target-s")
	})
}
