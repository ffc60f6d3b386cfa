// Package version says which hardenvm this is: the module version and the
// VCS commit, for `hardenvm version` and for what a build records about
// its builder (SBOM tool, provenance).
//
// `go build` in a git checkout puts the commit into the binary's build info
// (vcs.revision); `go install module@version` puts the version there. Where
// neither is there (-buildvcs=false, a source tarball, `go run`), the
// Makefile stamps Version and Commit with -ldflags -X from git describe and
// git rev-parse; the build info wins over the stamps only where it knows
// more.
package version

import "runtime/debug"

// Stamped by the Makefile: go build -ldflags "-X
// github.com/hardenvm/hardenvm/internal/version.Version=v0.3.0-12-gabc -X
// ...Commit=<sha>". Empty when not stamped.
var (
	Version string
	Commit  string
)

// Info describes the running binary.
type Info struct {
	Module   string `json:"module"`
	Version  string `json:"version"`
	Commit   string `json:"revision,omitempty"`
	Time     string `json:"time,omitempty"`
	Modified bool   `json:"modified,omitempty"`
	Go       string `json:"go"`
}

// Get reads the build info and the stamps.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return fromBuildInfo(bi, Version, Commit)
}

func fromBuildInfo(bi *debug.BuildInfo, version, commit string) Info {
	v := Info{Module: "github.com/hardenvm/hardenvm", Version: "(devel)"}
	if bi != nil {
		if bi.Main.Path != "" {
			v.Module = bi.Main.Path
		}
		if bi.Main.Version != "" {
			v.Version = bi.Main.Version
		}
		v.Go = bi.GoVersion
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Commit = s.Value
			case "vcs.time":
				v.Time = s.Value
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
	}
	if version != "" && v.Version == "(devel)" {
		v.Version = version
	}
	if commit != "" && v.Commit == "" {
		v.Commit = commit
	}
	return v
}

// String is "VERSION (COMMIT)" for --version and tool names.
func (v Info) String() string {
	c := v.Commit
	if c == "" {
		c = "unknown commit"
	} else if v.Modified {
		c += ", modified"
	}
	return v.Version + " (" + c + ")"
}
