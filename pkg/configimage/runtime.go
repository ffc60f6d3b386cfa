package configimage

import (
	"strings"

	"github.com/hardenvm/hardenvm/pkg/adminsettings"
	"github.com/hardenvm/hardenvm/pkg/runtime"
)

// RuntimeSettings maps the admin settings onto the hardened runtime's and
// the authorization plugin's policy (written as runtime.json in the
// config partition). Fields the admin settings do not cover keep the
// runtime's defaults.
//
// allowDerivedImages has no runtime counterpart yet: images are matched by
// name and digest only.
func RuntimeSettings(s adminsettings.Settings) runtime.Settings {
	r := runtime.Default()
	r.SocketImages = append([]string(nil), s.SocketImages()...)
	if c := s.Commands(); c != nil {
		r.CommandList = runtime.CommandList{Type: c.Type, Commands: append([]string(nil), c.Commands...)}
	}
	r.RegistryAllowList = append([]string(nil), s.Registries()...)
	r.BlockLoad = s.BlockDockerLoad != nil && s.BlockDockerLoad.Value
	if p := s.Proxy; p != nil && p.Mode == "manual" {
		r.Proxy = &runtime.Proxy{HTTP: p.HTTP, HTTPS: p.HTTPS, NoProxy: strings.Join(p.Exclude, ",")}
	}
	r.Nesting = s.Nesting()
	r.BenchmarkRuntime = s.BenchmarkRuntime()
	// The VM shares host directories at their host paths: a bind of
	// any other host path is refused instead of silently binding an
	// empty directory the engine made in the VM.
	r.HostPaths = true
	// The config mount itself is protected like /etc/docker.
	r.ProtectedPaths = append(r.ProtectedPaths, adminsettings.ConfigMount)
	return r
}
