package shim

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// BenchmarkContainerLifecycleShimVsRunc measures create+start+delete of a
// busybox container from Docker's plain config, through the shim
// (hardening, user namespace, ID-mapped rootfs) and with bare runc, the two
// interleaved in one run. Reported: the median of each (ms), the added
// median (ms) and the ratio shim/runc (target ≤ 1.10 or ≤ 5 ms added).
func BenchmarkContainerLifecycleShimVsRunc(b *testing.B) {
	h := newHarness(b)
	shimBundle := h.bundle(b, "bench-shim", "plain", []string{"/bin/true"}, nil)
	runcBundle := h.bundle(b, "bench-runc", "plain", []string{"/bin/true"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	out := outFile(b)
	lifecycle := func(bare bool, bundle, id string) time.Duration {
		return h.lifecycle(ctx, b, bare, bundle, id, out)
	}
	var shim, bare []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		bare = append(bare, lifecycle(true, runcBundle, h.id(b)))
		shim = append(shim, lifecycle(false, shimBundle, h.id(b)))
	}
	b.StopTimer()
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	ms1, ms2 := ms(median(shim)), ms(median(bare))
	b.ReportMetric(ms1, "shim-ms")
	b.ReportMetric(ms2, "runc-ms")
	b.ReportMetric(ms1-ms2, "added-ms")
	b.ReportMetric(ms1/ms2, "ratio")
	b.Logf("n=%d median create+start+delete: shim %.1f ms, runc %.1f ms, added %.1f ms, ratio %.3f",
		len(shim), ms1, ms2, ms1-ms2, ms1/ms2)
}

// outFile is where benchmarked containers write: it inherits the
// runtime's stdio, and a file, not a pipe, or waiting for EOF would wait
// for the container.
func outFile(b *testing.B) *os.File {
	out, err := os.Create(filepath.Join(b.TempDir(), "out"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { out.Close() })
	return out
}

// lifecycle runs create, start and delete of one container and returns
// how long they took; the container's stdio goes to out.
func (h *harness) lifecycle(ctx context.Context, b *testing.B, bare bool, bundle, id string, out *os.File) time.Duration {
	start := time.Now()
	for _, args := range [][]string{
		{"create", "--bundle", bundle, id},
		{"start", id},
		{"delete", "--force", id},
	} {
		cmd := h.cmd(ctx, b, bare, args...)
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Run(); err != nil {
			h.delete(id)
			o, _ := os.ReadFile(out.Name())
			b.Fatalf("%v (bare=%v): %v: %s", args, bare, err, o)
		}
	}
	return time.Since(start)
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
