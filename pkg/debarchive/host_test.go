package debarchive

import (
	"path/filepath"
	"testing"
)

func TestHostClient(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	t.Setenv(MirrorEnv, "http://env.invalid/debian")
	t.Setenv(SecurityMirrorEnv, "")
	tests := []struct {
		name  string
		flags Mirrors
		want  Mirrors
	}{
		{"flags", Mirrors{Debian: "http://flag.invalid/debian/", Security: "http://sec.invalid/s"}, Mirrors{Debian: "http://flag.invalid/debian", Security: "http://sec.invalid/s"}},
		{"environment", Mirrors{Security: "http://sec.invalid/s"}, Mirrors{Debian: "http://env.invalid/debian", Security: "http://sec.invalid/s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := HostClient(tt.flags, nil)
			if err != nil {
				t.Fatal(err)
			}
			if c.Mirrors != tt.want || c.Cache.Dir != filepath.Join(cache, "hardenvm") {
				t.Errorf("HostClient(%+v) = mirrors %+v, cache %s; want %+v, %s", tt.flags, c.Mirrors, c.Cache.Dir, tt.want, filepath.Join(cache, "hardenvm"))
			}
		})
	}
}
