package cpio

import (
	"bytes"
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hardenvm/hardenvm/internal/testenv"
)

func sample() []Entry {
	return []Entry{
		{Name: "bin", Mode: TypeDir | 0o755, Mtime: 1700000000},
		{Name: "bin/hello", Mode: TypeFile | 0o755, UID: 0, GID: 0, Mtime: 1700000000, Data: []byte("#!/bin/sh\necho hi\n")},
		{Name: "bin/odd", Mode: TypeFile | 0o4711, UID: 1000, GID: 1001, Mtime: 1, Data: []byte("abc")},
		{Name: "init", Mode: TypeSymlink | 0o777, Data: []byte("bin/hello")},
		{Name: "dev", Mode: TypeDir | 0o755},
		{Name: "dev/console", Mode: TypeChar | 0o600, Major: 5, Minor: 1},
		{Name: "empty", Mode: TypeFile | 0o644},
	}
}

func write(t *testing.T, es []Entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, e := range es {
		if err := w.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDeterministic(t *testing.T) {
	a, b := write(t, sample()), write(t, sample())
	if !bytes.Equal(a, b) {
		t.Fatal("same entries gave different archives")
	}
	if len(a)%4 != 0 {
		t.Errorf("archive length %d not 4-aligned", len(a))
	}
	var ga, gb bytes.Buffer
	for _, buf := range []*bytes.Buffer{&ga, &gb} {
		w := NewGzipWriter(buf)
		for _, e := range sample() {
			w.Add(e)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if sha256.Sum256(ga.Bytes()) != sha256.Sum256(gb.Bytes()) {
		t.Error("gzip output not reproducible")
	}
}

func TestBadEntries(t *testing.T) {
	for _, e := range []Entry{
		{Name: "/abs", Mode: TypeFile},
		{Name: "a/../b", Mode: TypeFile},
		{Name: "", Mode: TypeFile},
		{Name: "TRAILER!!!", Mode: TypeFile},
		{Name: "fifo", Mode: 0o010000},
		{Name: "d", Mode: TypeDir, Data: []byte("x")},
		{Name: "t", Mode: TypeFile, Mtime: -1},
	} {
		w := NewWriter(&bytes.Buffer{})
		if err := w.Add(e); err == nil {
			t.Errorf("Add(%+v) succeeded, want error", e)
		}
	}
}

// TestGNUCpio checks the archive against an independent reader: GNU cpio
// lists it with the right names, modes and owners, and extracts the data.
func TestGNUCpio(t *testing.T) {
	cpioBin := testenv.Tool(t, "cpio", "cpio")
	data := write(t, sample())
	cmd := exec.Command(cpioBin, "-itv", "--quiet", "--numeric-uid-gid")
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cpio -itv: %v\n%s", err, out)
	}
	want := []string{
		"drwxr-xr-x 2 0 0 .* bin$",
		"-rwxr-xr-x 1 0 0 18 .* bin/hello$",
		"-rws--x--x 1 1000 1001 3 .* bin/odd$",
		"lrwxrwxrwx 1 0 0 .* init -> bin/hello$",
		"drwxr-xr-x 2 0 0 .* dev$",
		"crw------- 1 0 0 5, 1 .* dev/console$",
		"-rw-r--r-- 1 0 0 0 .* empty$",
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(want) {
		t.Fatalf("cpio listed %d entries, want %d:\n%s", len(lines), len(want), out)
	}
	for i, re := range want {
		line := strings.Join(strings.Fields(lines[i]), " ")
		if ok, _ := regexp.MatchString(re, line); !ok {
			t.Errorf("entry %d: %q does not match %q", i, lines[i], re)
		}
	}

	dir := t.TempDir()
	var files []Entry
	for _, e := range sample() {
		if e.Mode&typeMask != TypeChar {
			files = append(files, e)
		}
	}
	cmd = exec.Command(cpioBin, "-id", "--quiet", "--no-preserve-owner")
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(write(t, files))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cpio -id: %v\n%s", err, out)
	}
	got, err := os.ReadFile(filepath.Join(dir, "bin/hello"))
	if err != nil || string(got) != "#!/bin/sh\necho hi\n" {
		t.Errorf("extracted bin/hello = %q, %v", got, err)
	}
	if target, _ := os.Readlink(filepath.Join(dir, "init")); target != "bin/hello" {
		t.Errorf("extracted init -> %q, want bin/hello", target)
	}
}
