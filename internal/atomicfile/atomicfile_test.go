package atomicfile

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
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

// TestRemoveStale: temporary outputs left by a killed run are removed by
// the next run of the same kind; those of a live run (holding the lock)
// and unrelated names are kept.
func TestRemoveStale(t *testing.T) {
	parent := t.TempDir()
	for _, n := range []string{".out.tmp-1", ".out.tmp-2", ".out.tmp-3.old", ".other.tmp-4", "out-notes"} {
		os.Mkdir(filepath.Join(parent, n), 0o755)
		os.WriteFile(filepath.Join(parent, n, "f"), []byte("x"), 0o644)
	}
	os.WriteFile(filepath.Join(parent, ".out.tmp-5"), []byte("half a file"), 0o644)
	live, err := lockPath(filepath.Join(parent, ".out.tmp-2"), unix.LOCK_SH)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	// A run killed while it held its lock (flock(1) stands in for it).
	killed := filepath.Join(parent, ".out.tmp-6")
	os.Mkdir(killed, 0o755)
	if flock, err := exec.LookPath("flock"); err == nil {
		cmd := exec.Command(flock, "-o", killed, "sleep", "60")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		for range 100 {
			f, err := lockPath(killed, unix.LOCK_EX)
			if err != nil {
				break // flock(1) holds it
			}
			f.Close()
			time.Sleep(20 * time.Millisecond)
		}
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // flock(1) and its sleep
		cmd.Wait()
		// flock(1) is reaped; its child, killed before it closed its
		// copy of the locked descriptor, may still be exiting: the lock
		// goes with it (bounded wait).
		for range 100 {
			if f, err := lockPath(killed, unix.LOCK_EX); err == nil {
				f.Close()
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	d, err := CreateDir(filepath.Join(parent, "out"), 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Commit(); err != nil {
		t.Fatal(err)
	}
	assertOnly(t, parent, ".other.tmp-4", ".out.tmp-2", "out", "out-notes")

	w, err := MkdirTemp(parent, ".other.tmp-")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Remove()
	if _, err := os.Stat(filepath.Join(parent, ".other.tmp-4")); err == nil {
		t.Error("MkdirTemp kept a stale directory of its prefix")
	}
}

// TestRemoveStaleSparesYoung: an owner creates its temporary entry and
// only then locks it; a run cleaning up in between must not take the
// still unlocked entry for a leftover (it did: the writer's commit then
// failed, or its output vanished). Owners hold the parent's shared lock
// in between (creating), as this test does.
func TestRemoveStaleSparesYoung(t *testing.T) {
	parent := t.TempDir()
	done, err := creating(parent)
	if err != nil {
		t.Fatal(err)
	}
	young := filepath.Join(parent, ".out.tmp-young")
	if err := os.WriteFile(young, []byte("being written"), 0o644); err != nil {
		t.Fatal(err)
	}
	youngDir := filepath.Join(parent, ".out.tmp-youngdir")
	if err := os.Mkdir(youngDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if got := RemoveStale(parent, ".out.tmp-"); len(got) != 0 {
		t.Errorf("RemoveStale removed %v, entries just created and not yet locked", got)
	}
	assertOnly(t, parent, ".out.tmp-young", ".out.tmp-youngdir")
	// The owner is gone before locking them: leftovers.
	done()
	if got := RemoveStale(parent, ".out.tmp-"); len(got) != 2 {
		t.Errorf("RemoveStale removed %v, want both entries", got)
	}
	assertOnly(t, parent)
}

// TestRemoveStaleThroughLink: a parent reached through a symbolic link is
// cleaned up as the directory it names (owners lock that directory too).
func TestRemoveStaleThroughLink(t *testing.T) {
	real := t.TempDir()
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(real, ".out.tmp-1"), []byte("left over"), 0o644)
	if got := RemoveStale(link, ".out.tmp-"); len(got) != 1 {
		t.Errorf("RemoveStale through a link removed %v, want the leftover", got)
	}
	assertOnly(t, real)
}
