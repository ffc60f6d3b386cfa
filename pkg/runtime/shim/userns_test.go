package shim

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardenvm/hardenvm/internal/testenv"
	"golang.org/x/sys/unix"
)

// TestUsernsFD makes each kind of namespace and mounts an ID-mapped clone
// through it: on-disk owners show mapped as asked, and no child is left
// behind (not even a zombie).
func TestUsernsFD(t *testing.T) {
	testenv.Root(t)
	const base, size = 300000, 65536
	tests := []struct {
		name         string
		withHostRoot bool
		want         map[string]uint32 // file → uid seen through the clone
	}{
		{"container range", false, map[string]uint32{"root": base, "user": base + 1000, "size": 65534, "beyond": 65534}},
		{"with the VM's root", true, map[string]uint32{"root": base, "user": base + 1000, "size": 0, "beyond": 65534}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			src := filepath.Join(dir, "src")
			os.Mkdir(src, 0o755)
			for name, uid := range map[string]int{"root": 0, "user": 1000, "size": size, "beyond": size + 1} {
				p := filepath.Join(src, name)
				if err := os.WriteFile(p, nil, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Chown(p, uid, uid); err != nil {
					t.Fatal(err)
				}
			}
			fd, err := usernsFD(base, size, tt.withHostRoot)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			if kids := children(t); kids != "" {
				t.Errorf("children left after usernsFD: %s", kids)
			}
			dst := filepath.Join(dir, "dst")
			if err := clone(src, dst, false, fd, true); err != nil {
				t.Fatal(err)
			}
			defer unix.Unmount(dst, unix.MNT_DETACH)
			for name, want := range tt.want {
				var st unix.Stat_t
				if err := unix.Stat(filepath.Join(dst, name), &st); err != nil {
					t.Fatal(err)
				}
				if st.Uid != want || st.Gid != want {
					t.Errorf("%s: owner %d:%d through the clone, want %d:%d", name, st.Uid, st.Gid, want, want)
				}
			}
		})
	}
}

// children lists this process's children (zombies included), from every
// thread's children file.
func children(t *testing.T) string {
	t.Helper()
	files, err := filepath.Glob("/proc/self/task/*/children")
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // a thread gone meanwhile
		}
		all = append(all, strings.Fields(string(b))...)
	}
	return strings.Join(all, " ")
}
