package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out")
	if err := WriteFile(p, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("two"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(p)
	if err != nil || string(got) != "two" {
		t.Fatalf("ReadFile = %q, %v; want %q", got, err, "two")
	}
	fi, _ := os.Stat(p)
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode = %v, want 0644", fi.Mode().Perm())
	}
	assertOnly(t, dir, "out")
}

func TestWriteFailureKeepsOld(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out")
	if err := WriteFile(p, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := Write(p, 0o600, func(w io.Writer) error {
		w.Write([]byte("half"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Write error = %v, want %v", err, boom)
	}
	got, _ := os.ReadFile(p)
	if string(got) != "old" {
		t.Errorf("after failed write: %q, want %q", got, "old")
	}
	assertOnly(t, dir, "out")
}

func TestCreateInMissingDir(t *testing.T) {
	_, err := Create(filepath.Join(t.TempDir(), "nope", "out"), 0o600)
	if err == nil {
		t.Fatal("Create in a missing directory succeeded")
	}
}

func TestDir(t *testing.T) {
	parent := t.TempDir()
	target := filepath.Join(parent, "out")

	d, err := CreateDir(target, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(d.Path, "a"), []byte("1"), 0o644)
	d.Abort()
	assertOnly(t, parent)

	d, _ = CreateDir(target, 0o755)
	os.WriteFile(filepath.Join(d.Path, "a"), []byte("1"), 0o644)
	if err := d.Commit(); err != nil {
		t.Fatal(err)
	}
	d.Abort() // no-op after commit
	assertOnly(t, target, "a")

	d, _ = CreateDir(target, 0o755)
	os.WriteFile(filepath.Join(d.Path, "b"), []byte("2"), 0o644)
	if err := d.Commit(); err != nil {
		t.Fatal(err)
	}
	assertOnly(t, target, "b")
	assertOnly(t, parent, "out")
}

func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if len(got) != len(names) {
		t.Fatalf("%s holds %v, want %v", dir, got, names)
	}
	for i := range got {
		if got[i] != names[i] {
			t.Fatalf("%s holds %v, want %v", dir, got, names)
		}
	}
}
