package shim

import (
	"strings"
	"testing"

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
t nested-procfs unshare -m -p -f sh -c 'mount -t proc proc /mnt/p && mount --bind /dev/null /mnt/p/keys && busybox umount /mnt/p/keys && busybox umount /mnt/p'
t keys-still-masked sh -c 'test ! -s /proc/keys && ! grep -q . /proc/keys'
`

// TestHostMountGuard: in a --privileged container the masks, read-only
// paths and the runtime's mounts stay in place, while the container's own
// mounts, nested mount namespaces and a nested procfs with its own mask
// work.
func TestHostMountGuard(t *testing.T) {
	h := newHarness(t)
	id := h.id(t)
	b := h.bundle(t, id, "privileged", []string{"sh", "-c", guardScript}, func(s *specs.Spec) {
		s.Process.Env = append(s.Process.Env, "PATH=/bin")
	})
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
		"keys-still-masked": "ok",
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: %q, want %s", name, got[name], w)
		}
	}
	t.Logf("output:\n%s", out)
}
