package fstree

import (
	"testing"
	"testing/fstest"
	"time"
)

func TestFS(t *testing.T) {
	tr := New()
	h := Header{Mode: 0o644, Mtime: time.Unix(1, 0)}
	if _, err := tr.MkdirAll("lib/modules/6.1/kernel/fs", Header{Mode: 0o755}); err != nil {
		t.Fatal(err)
	}
	for p, data := range map[string]string{
		"lib/modules/6.1/kernel/fs/a.ko": "module a",
		"lib/modules/6.1/modules.order":  "kernel/fs/a.ko\n",
	} {
		if err := tr.WriteFile(p, h, Bytes(data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.Symlink("kernel/fs/a.ko", "lib/modules/6.1/link.ko", Header{Mode: 0o777}); err != nil {
		t.Fatal(err)
	}
	// fstest.TestFS checks the fs.FS contract (Open, ReadDir, Stat, reads).
	if err := fstest.TestFS(tr.FS("lib/modules/6.1"), "kernel/fs/a.ko", "modules.order", "link.ko"); err != nil {
		t.Fatal(err)
	}
}
