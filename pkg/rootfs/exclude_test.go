package rootfs

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hardenvm/hardenvm/pkg/fstree"
)

func excludeTree(t *testing.T) *fstree.Tree {
	t.Helper()
	tr := fstree.New()
	h := fstree.Header{Mode: 0o644, Mtime: epoch}
	for _, f := range []string{
		"/usr/bin/runc",
		"/usr/share/doc/runc/copyright",
		"/usr/share/doc/runc/changelog.Debian.gz",
		"/usr/share/doc/runc/examples/a.json",
		"/usr/share/doc/gcc-14-base/copyright",
		"/usr/share/man/man8/runc.8.gz",
		"/usr/share/locale/de/LC_MESSAGES/sed.mo",
		"/usr/lib/x86_64-linux-gnu/gconv/UTF-16.so",
		"/etc/runc.conf",
	} {
		if _, err := tr.MkdirAll(dirOf(f), fstree.Header{Mode: 0o755, Mtime: epoch}); err != nil {
			t.Fatal(err)
		}
		if err := tr.WriteFile(f, h, fstree.Bytes("0123456789")); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.Symlink("gcc-14-base", "/usr/share/doc/libgcc-s1", h); err != nil {
		t.Fatal(err)
	}
	// A hard link whose other name is left out keeps its contents.
	if err := tr.Link("/usr/share/man/man8/runc.8.gz", "/etc/runc.8.gz"); err != nil {
		t.Fatal(err)
	}
	return tr
}

func dirOf(p string) string {
	for i := len(p) - 1; i > 0; i-- {
		if p[i] == '/' {
			return p[:i]
		}
	}
	return "/"
}

func TestExclude(t *testing.T) {
	minimized := []string{"/usr/share/man", "/usr/share/locale", "/usr/share/doc/*/*"}
	tests := []struct {
		name          string
		exclude, keep []string
		gone          []string // paths no longer in the tree
		stay          []string // paths still there
		want          Excluded
	}{
		{name: "nothing excluded", stay: []string{"/usr/share/man/man8/runc.8.gz", "/usr/share/doc/runc/changelog.Debian.gz"}},
		{
			name:    "documentation but copyright",
			exclude: minimized,
			keep:    []string{"/usr/share/doc/*/copyright"},
			gone: []string{"/usr/share/man", "/usr/share/locale", "/usr/share/doc/runc/changelog.Debian.gz",
				"/usr/share/doc/runc/examples"},
			stay: []string{"/usr/share/doc/runc/copyright", "/usr/share/doc/gcc-14-base/copyright",
				"/usr/share/doc/libgcc-s1", "/usr/bin/runc", "/etc/runc.8.gz", "/usr/lib/x86_64-linux-gnu/gconv/UTF-16.so"},
			// man (man8, runc.8.gz), locale (de, LC_MESSAGES, sed.mo),
			// changelog, examples (and a.json): 10 names, 4 files.
			want: Excluded{Names: 10, Bytes: 40},
		},
		{
			name:    "a directory match takes everything below it",
			exclude: []string{"/usr/lib/*/gconv"},
			gone:    []string{"/usr/lib/x86_64-linux-gnu/gconv"},
			stay:    []string{"/usr/lib/x86_64-linux-gnu"},
			want:    Excluded{Names: 2, Bytes: 10},
		},
		{
			name:    "keep of a directory keeps it whole",
			exclude: []string{"/usr/share/doc"},
			keep:    []string{"/usr/share/doc/runc"},
			gone:    []string{"/usr/share/doc/gcc-14-base", "/usr/share/doc/libgcc-s1"},
			stay:    []string{"/usr/share/doc/runc/examples/a.json", "/usr/share/doc/runc/changelog.Debian.gz"},
			want:    Excluded{Names: 3, Bytes: 10},
		},
		{
			name:    "star stays within one name",
			exclude: []string{"/usr/share/*.gz"},
			stay:    []string{"/usr/share/man/man8/runc.8.gz"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := excludeTree(t)
			got, err := Exclude(tr, tt.exclude, tt.keep)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Exclude() diff (-want +got):\n%s", diff)
			}
			for _, p := range tt.gone {
				if _, err := tr.Lookup(p); err == nil {
					t.Errorf("%s is still in the tree", p)
				}
			}
			for _, p := range tt.stay {
				if _, err := tr.Lookup(p); err != nil {
					t.Errorf("%s is gone: %v", p, err)
				}
			}
		})
	}
}

func TestExcludeBadGlob(t *testing.T) {
	_, err := Exclude(excludeTree(t), []string{"/usr/[share"}, nil)
	if err == nil {
		t.Fatal("Exclude with a malformed glob succeeded")
	}
}
