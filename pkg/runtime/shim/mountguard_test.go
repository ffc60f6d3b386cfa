package shim

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// guardScript runs in a --privileged container through the shim and real
// runc; each line says whether one mount operation went through.
const guardScript = `
t() { name=$1; shift; if "$@" >/tmp/o 2>&1; then echo "$name ok"; else echo "$name refused"; cat /tmp/o >&2; fi; }
mkdir -p /mnt/a /mnt/b /mnt/p
t umount-mask busybox umount /proc/keys
t umount-mask-lazy busybox umount -l /proc/timer_list
t remount-ro-path-rw mount -o remount,bind,rw /proc/fs
t remount-ro-path-sb-rw mount -o remount,rw /proc/fs
t remount-ro-path-ro mount -o remount,bind,ro,nosuid,nodev,noexec /proc/fs
t cover-proc mount -t proc proc /proc
t cover-mask mount -t tmpfs t /proc/keys
t bind-proc-unmasked mount --bind /proc /mnt/b
t move-mask mount --move /proc/keys /mnt/a
t own-tmpfs sh -c 'mount -t tmpfs t /mnt/a && busybox umount /mnt/a'
t own-bind-rec sh -c 'mount --rbind /proc /mnt/b && busybox umount -l /mnt/b'
t own-move sh -c 'mount -t tmpfs t /mnt/a && mount --move /mnt/a /mnt/b && busybox umount /mnt/b'
t nested-own-mounts unshare -m sh -c 'mount -t tmpfs t /mnt/a && busybox umount /mnt/a && mount --make-rprivate /'
t nested-umount-mask-copy unshare -m busybox umount /proc/keys
t nested-cover-proc unshare -m -p -f mount -t proc proc /proc
t fd-paths sh -c 'mkdir -p /mnt/s /mnt/d; exec 6</mnt/s; mount --bind /proc/self/fd/6 /mnt/d && exec 7</mnt/d && mount -o remount,bind,nosuid none /proc/self/fd/7 && exec 7<&- && busybox umount /mnt/d'
t self-bind-mask sh -c 'mount --rbind /proc/keys /proc/keys && mount -o remount,bind,ro /proc/keys && busybox umount /proc/keys'
t nested-procfs unshare -m -p -f sh -c 'mount -t proc proc /mnt/p && mount --bind /dev/null /mnt/p/keys && busybox umount /mnt/p/keys && busybox umount /mnt/p'
t keys-still-masked sh -c 'test ! -s /proc/keys && ! grep -q . /proc/keys'
t new-tmpfs sh -c 'newmount tmpfs /mnt/a && grep -q " /mnt/a .* newmount " /proc/self/mountinfo && busybox umount /mnt/a'
t new-cover-mask newmount tmpfs /proc/keys
t new-cover-proc newmount tmpfs /proc
t new-move-mask newmount move /proc/keys /mnt/a
t new-move-own sh -c 'mount -t tmpfs t /mnt/a && newmount move /mnt/a /mnt/b && busybox umount /mnt/b'
t new-clone-proc newmount clone /proc /mnt/b
t new-clone-proc-rec sh -c 'newmount clone /proc /mnt/b -r && busybox umount -l /mnt/b'
t new-setattr-ro-path-rw newmount setattr /proc/fs -ro
t new-setattr-proc-rw-rec newmount setattr /proc -ro -r
t new-setattr-own sh -c 'mount -t tmpfs t /mnt/a && newmount setattr /mnt/a +ro && ! touch /mnt/a/x 2>/dev/null && newmount setattr /mnt/a -ro && touch /mnt/a/x && busybox umount /mnt/a'
t new-reconfigure-sb newmount reconfigure /proc/fs rw
t nested-new-cover-proc unshare -m newmount tmpfs /proc
t nested-new-move-mask-copy unshare -m newmount move /proc/keys /mnt/a
t nested-shared-umount-proc sh -c 'mount --make-rshared / && unshare -m --propagation shared busybox umount -l /proc'
t nested-shared-umount-own sh -c 'mount -t tmpfs t /mnt/a && unshare -m --propagation shared busybox umount /mnt/a && ! grep -q " /mnt/a " /proc/self/mountinfo'
t ro-path-still-ro sh -c 'grep " /proc/fs " /proc/self/mountinfo | grep -q " ro,"'
t keys-masked-at-end sh -c 'test ! -s /proc/keys && ! grep -q . /proc/keys'
`

// TestHostMountGuard: in a --privileged container the masks, read-only
// paths and the runtime's mounts stay in place, while the container's own
// mounts, nested mount namespaces and a nested procfs with its own mask
// work.
func TestHostMountGuard(t *testing.T) {
	h := newHarness(t)
	h.settings.MountGuard = "on"
	id := h.id(t)
	b := h.bundle(t, id, "privileged", []string{"sh", "-c", guardScript}, func(s *specs.Spec) {
		s.Process.Env = append(s.Process.Env, "PATH=/bin")
	})
	copyFile(t, filepath.Join(filepath.Dir(h.shim), "newmount"), filepath.Join(b, "rootfs", "bin", "newmount"), 0o755)
	out, errOut, code := h.run(t, id, b)
	if code != 0 {
		t.Fatalf("container exit %d: %s\n%s", code, out, errOut)
	}
	if errOut != "" {
		t.Logf("stderr:\n%s", errOut)
	}
	got := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(l); len(f) == 2 {
			got[f[0]] = f[1]
		}
	}
	want := map[string]string{
		"umount-mask": "refused", "umount-mask-lazy": "refused",
		"remount-ro-path-rw": "refused", "remount-ro-path-sb-rw": "refused", "remount-ro-path-ro": "ok",
		"cover-proc": "refused", "cover-mask": "refused", "bind-proc-unmasked": "refused", "move-mask": "refused",
		"own-tmpfs": "ok", "own-bind-rec": "ok", "own-move": "ok",
		"nested-own-mounts": "ok", "nested-umount-mask-copy": "refused", "nested-procfs": "ok",
		"nested-cover-proc": "ok", "self-bind-mask": "ok", "fd-paths": "ok",
		"keys-still-masked": "ok", "new-tmpfs": "ok", "new-cover-mask": "refused", "new-cover-proc": "refused", "new-move-mask": "refused",
		"new-move-own": "ok", "new-clone-proc": "refused", "new-clone-proc-rec": "ok",
		"new-setattr-ro-path-rw": "refused", "new-setattr-proc-rw-rec": "refused", "new-setattr-own": "ok",
		"new-reconfigure-sb": "ok", "nested-new-cover-proc": "ok", "nested-new-move-mask-copy": "refused",
		"nested-shared-umount-proc": "refused", "nested-shared-umount-own": "ok", "ro-path-still-ro": "ok", "keys-masked-at-end": "ok",
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: %q, want %s", name, got[name], w)
		}
	}
	t.Logf("output:\n%s", out)
	if t.Failed() {
		// The guard's reasons, from runc's log.
		log, _ := os.ReadFile(filepath.Join(h.dir, "runc.log"))
		for _, l := range strings.Split(string(log), "\n") {
			if strings.Contains(l, "mount guard") {
				t.Log(l)
			}
		}
	}
}

// BenchmarkMountGuard measures what the mount guard costs a --privileged
// container, with the guard and without (setting mountGuard off),
// interleaved in one run: create+start+delete (the guard's start and its
// first descriptor), and 500 tmpfs mount+umount pairs inside one
// container (two trapped calls each; the umount performed by the guard).
func BenchmarkMountGuard(b *testing.B) {
	h := newHarness(b)
	lc := h.bundle(b, "bench-guard", "privileged", []string{"/bin/true"}, nil)
	loop := h.bundle(b, "bench-guard-loop", "privileged", []string{"sh", "-c",
		`mkdir -p /mnt/a; i=0; while [ $i -lt 500 ]; do mount -t tmpfs t /mnt/a && umount /mnt/a || exit 1; i=$((i+1)); done`}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	out := outFile(b)
	took := map[string][]time.Duration{}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, mode := range []string{"off", "on"} {
			h.settings.MountGuard = mode
			took["lifecycle-"+mode] = append(took["lifecycle-"+mode], h.lifecycle(ctx, b, false, lc, h.id(b), out))
			start := time.Now()
			id := h.id(b)
			if o, e, code := h.run(b, id, loop); code != 0 {
				b.Fatalf("mount loop with the guard %s: exit %d: %s %s", mode, code, o, e)
			}
			took["loop-"+mode] = append(took["loop-"+mode], time.Since(start))
		}
	}
	b.StopTimer()
	ms := func(k string) float64 { return float64(median(took[k])) / float64(time.Millisecond) }
	b.ReportMetric(ms("lifecycle-on"), "guard-lifecycle-ms")
	b.ReportMetric(ms("lifecycle-off"), "noguard-lifecycle-ms")
	b.ReportMetric(ms("lifecycle-on")/ms("lifecycle-off"), "lifecycle-ratio")
	b.ReportMetric((ms("loop-on")-ms("loop-off"))/1000*1000, "added-us/call")
	b.Logf("n=%d median: create+start+delete of a --privileged container %.1f ms with the guard, %.1f ms without (ratio %.3f); "+
		"500 tmpfs mount+umount in a container: run %.1f ms with, %.1f ms without (%.0f µs added per trapped call)",
		len(took["loop-on"]), ms("lifecycle-on"), ms("lifecycle-off"), ms("lifecycle-on")/ms("lifecycle-off"),
		ms("loop-on"), ms("loop-off"), (ms("loop-on")-ms("loop-off"))/1000*1000)
}

// TestHostMountGuardDies: when the guard is gone, the kernel answers the
// container's mount calls with ENOSYS at once: they fail closed and
// nothing waits.
func TestHostMountGuardDies(t *testing.T) {
	h := newHarness(t)
	h.settings.MountGuard = "on"
	id := h.id(t)
	b := h.bundle(t, id, "privileged", []string{"sh", "-c",
		`while [ ! -e /tmp/go ]; do sleep 0.1; done; mkdir -p /mnt/a; mount -t tmpfs t /mnt/a 2>&1; echo "mount exit $?"`}, nil)
	type result struct {
		out, errOut string
		code        int
	}
	done := make(chan result, 1)
	go func() {
		o, e, c := h.run(t, id, b)
		done <- result{o, e, c}
	}()
	var pid int
	for deadline := time.Now().Add(30 * time.Second); pid == 0 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		// Once the guard holds the container's descriptor.
		log, _ := os.ReadFile(filepath.Join(h.dir, "runc.log"))
		if i := strings.Index(string(log), id+": mount guard pid "); i >= 0 && strings.Contains(string(log), "container "+id+": ") {
			fmt.Sscanf(string(log[i+len(id+": mount guard pid "):]), "%d", &pid)
		}
	}
	if pid == 0 {
		t.Fatal("no mount guard serving in 30 s (no 'mount guard pid' and initial mounts in runc's log)")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("killing the guard %d: %v", pid, err)
	}
	// The container's rootfs is the bundle's (ID-mapped, same files).
	if err := os.WriteFile(filepath.Join(b, "rootfs", "tmp", "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if !strings.Contains(r.out, "Function not implemented") || !strings.Contains(r.out, "mount exit 255") && !strings.Contains(r.out, "mount exit 1") {
			t.Errorf("mount without its guard: %q (stderr %q), want ENOSYS (Function not implemented)", r.out, r.errOut)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the container did not finish within 60 s of its guard's death")
	}
}
