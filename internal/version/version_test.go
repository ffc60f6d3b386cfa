package version

import (
	"runtime/debug"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFromBuildInfo(t *testing.T) {
	vcs := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "github.com/hardenvm/hardenvm", Version: "(devel)"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "true"}, {Key: "vcs.time", Value: "2026-12-01T00:00:00Z"}}}
	installed := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "github.com/hardenvm/hardenvm", Version: "v0.3.0"}}
	bare := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "github.com/hardenvm/hardenvm", Version: "(devel)"}}
	tests := []struct {
		name            string
		bi              *debug.BuildInfo
		version, commit string
		want            Info
		str             string
	}{
		{"vcs stamped by go", vcs, "", "", Info{Module: "github.com/hardenvm/hardenvm", Version: "(devel)", Commit: "abc", Modified: true, Time: "2026-12-01T00:00:00Z", Go: "go1.26.0"}, "(devel) (abc, modified)"},
		{"vcs beats the stamp", vcs, "v0.3.0-1-gdef", "def", Info{Module: "github.com/hardenvm/hardenvm", Version: "v0.3.0-1-gdef", Commit: "abc", Modified: true, Time: "2026-12-01T00:00:00Z", Go: "go1.26.0"}, "v0.3.0-1-gdef (abc, modified)"},
		{"go install", installed, "", "", Info{Module: "github.com/hardenvm/hardenvm", Version: "v0.3.0", Go: "go1.26.0"}, "v0.3.0 (unknown commit)"},
		{"makefile stamps", bare, "v0.3.0-2-g123", "123456", Info{Module: "github.com/hardenvm/hardenvm", Version: "v0.3.0-2-g123", Commit: "123456", Go: "go1.26.0"}, "v0.3.0-2-g123 (123456)"},
		{"no build info", nil, "", "", Info{Module: "github.com/hardenvm/hardenvm", Version: "(devel)"}, "(devel) (unknown commit)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := fromBuildInfo(tt.bi, tt.version, tt.commit)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("fromBuildInfo() diff (-want +got):\n%s", diff)
			}
			if s := got.String(); s != tt.str {
				t.Errorf("String() = %q, want %q", s, tt.str)
			}
		})
	}
}
