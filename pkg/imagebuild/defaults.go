package imagebuild

import (
	"os"
	"path/filepath"
	"strings"
)

// FillDefaults sets what `hardenvm build` leaves to defaults: Out is
// out/NAME for a spec NAME.yml, Init and Agent are hardenvm-init and
// hardenvm-agent in the directory of the running program (where make build
// puts them). Fields already set stay.
func (o *Options) FillDefaults() {
	if o.Out == "" {
		o.Out = DefaultOut(o.Spec)
	}
	if o.Init == "" {
		o.Init = besideExecutable("hardenvm-init")
	}
	if o.Agent == "" {
		o.Agent = besideExecutable("hardenvm-agent")
	}
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
