package imagebuild

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/hardenvm/hardenvm/pkg/arch"
)

// FillDefaults sets what `hardenvm build` leaves to defaults: Out is
// out/NAME for a spec NAME.yml. Fields already set stay. Init and Agent
// depend on the spec's architecture: the build picks GuestBinary's when
// they are empty.
func (o *Options) FillDefaults() {
	if o.Out == "" {
		o.Out = DefaultOut(o.Spec)
	}
}

// GuestBinary is where make build puts a guest binary (hardenvm-init,
// hardenvm-agent) for an architecture: in the directory of the running
// program for amd64, in its subdirectory named for the architecture
// ("arm64/") for the others.
func GuestBinary(name string, a arch.Arch) string { return besideExecutable(GuestPath(name, a)) }

// GuestPath is GuestBinary relative to the program's directory.
func GuestPath(name string, a arch.Arch) string {
	if a.Debian != arch.AMD64.Debian {
		return filepath.Join(a.Debian, name)
	}
	return name
}

// DefaultOut is the output directory of the spec at path: out/NAME for
// NAME.yml.
func DefaultOut(spec string) string {
	return filepath.Join("out", strings.TrimSuffix(filepath.Base(spec), filepath.Ext(spec)))
}

// besideExecutable is name in the directory of the running program, or
// name alone when that directory is unknown.
func besideExecutable(name string) string {
	exe, err := os.Executable()
	if err != nil {
		return name
	}
	return filepath.Join(filepath.Dir(exe), name)
}
