package shim

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardenvm/hardenvm/pkg/runtime"
)

func TestAllocateRange(t *testing.T) {
	set := runtime.Default()
	set.IDState = filepath.Join(t.TempDir(), "state", "idranges.json")
	set.IDRanges = 2
	alive := map[string]bool{"a": true, "b": true, "c": true}
	exists := func(id string) bool { return alive[id] }
	for _, s := range []struct {
		id   string
		want uint32
	}{{"a", 100000}, {"b", 165536}, {"a", 100000}} {
		got, err := allocateRange(set, s.id, exists)
		if err != nil || got != s.want {
			t.Fatalf("allocateRange(%s) = %d, %v, want %d", s.id, got, err, s.want)
		}
	}
	_, err := allocateRange(set, "c", exists)
	if err == nil || !strings.Contains(err.Error(), "no free ID range for this container: all 2 ranges") {
		t.Fatalf("a third container with two ranges: %v", err)
	}
	if fi, err := os.Stat(set.IDState); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("state file: %v %v, want mode 0600", fi, err)
	}
	delete(alive, "a")
	if got, err := allocateRange(set, "c", exists); err != nil || got != 100000 {
		t.Errorf("allocateRange(c) once a is gone = %d, %v, want 100000", got, err)
	}
}

func TestContainerExists(t *testing.T) {
	docker, runc := t.TempDir(), t.TempDir()
	os.MkdirAll(filepath.Join(docker, "containers", "d1"), 0o700)
	os.MkdirAll(filepath.Join(runc, "r1"), 0o700)
	exists := containerExists(docker, runc)
	for id, want := range map[string]bool{"d1": true, "r1": true, "gone": false, "..": false} {
		if got := exists(id); got != want {
			t.Errorf("exists(%q) = %v, want %v", id, got, want)
		}
	}
}
