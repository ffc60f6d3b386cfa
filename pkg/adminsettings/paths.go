package adminsettings

import (
	"maps"
	"slices"
)

// Where the config partition is mounted in the guest and what it holds.
const (
	ConfigMount    = "/run/hardenvm/config"
	SettingsFile   = "admin-settings.json"
	DaemonFile     = "daemon.json"
	RuntimeFile    = "runtime.json" // pkg/runtime's settings, for the shim and the authz plugin
	CAFile         = "tls/ca.pem"
	ServerCertFile = "tls/server-cert.pem"
	ServerKeyFile  = "tls/server-key.pem"
)

// The engine wiring the image fixes (pkg/runtime/README.md).
const (
	RuntimeName = "hardenvm" // daemon.json runtime name of the shim, the default runtime
	// ShimPath is the shim: before Debian's /usr/sbin/runc (the real
	// runtime the shim runs) on dockerd's PATH, so that the reserved
	// runtime name runc resolves to the shim too.
	ShimPath    = "/usr/local/sbin/runc"
	AuthzPlugin = "hardenvm" // the authorization plugin
	// RealRuntimePath is Debian's runc, the real runtime the shim runs.
	RealRuntimePath = "/usr/sbin/runc"
	// BenchmarkRuntimeName is the engine runtime that setting
	// benchmarkPlainRuntime adds: RealRuntimePath with no shim.
	BenchmarkRuntimeName = "runc-plain"
)

// EngineSockets are the unix sockets the engine may listen on: the
// hardened runtime refuses to bind-mount them into containers that are not
// allow-listed.
var EngineSockets = []string{"/run/docker.sock", "/var/run/docker.sock"}

// InConfig is the guest path of a file of the config partition.
func InConfig(name string) string { return ConfigMount + "/" + name }

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
