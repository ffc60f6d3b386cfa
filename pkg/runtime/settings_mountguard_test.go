package runtime

import (
	"os"
	"path/filepath"
	"testing"
)

// The mount guard is on unless the settings turn it off; any other value
// is refused rather than read as either.
func TestSettingsMountGuard(t *testing.T) {
	for _, tt := range []struct {
		json, want string
		ok         bool
	}{
		{`{}`, "on", true},
		{`{"mountGuard":"on"}`, "on", true},
		{`{"mountGuard":"off"}`, "off", true},
		{`{"mountGuard":"no"}`, "", false},
	} {
		p := filepath.Join(t.TempDir(), "runtime.json")
		if err := os.WriteFile(p, []byte(tt.json), 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := LoadSettings(p)
		if (err == nil) != tt.ok || err == nil && s.MountGuard != tt.want {
			t.Errorf("LoadSettings(%s) = %q, %v; want %q (ok %v)", tt.json, s.MountGuard, err, tt.want, tt.ok)
		}
	}
	if Default().MountGuard != "on" {
		t.Errorf("Default().MountGuard = %q, want on", Default().MountGuard)
	}
}
