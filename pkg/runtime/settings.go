package runtime

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// Settings is the part of the admin settings that the runtime policy reads.
// It is deliberately small and flat so that the admin-settings.json loader
// (its own package) can fill it; Default gives the values used when a field
// is left empty.
type Settings struct {
	// SocketImages is enhancedContainerIsolation.dockerSocketMount.imageList.images:
	// entries "name", "name:tag", "name:*", "name@sha256:…", "sha256:<image id>" or "*".
	SocketImages []string `json:"socketImages,omitempty"`
	// CommandList is enhancedContainerIsolation.dockerSocketMount.commandList:
	// engine API commands allowed or denied ("push", "image*", …).
	CommandList CommandList `json:"commandList,omitzero"`
	// RegistryAllowList are the registries images may be pulled from
	// (host[:port], "docker.io" for Docker Hub); empty allows every one.
	RegistryAllowList []string `json:"registryAllowList,omitempty"`
	// BlockLoad refuses docker load and docker import (blockDockerLoad).
	BlockLoad bool `json:"blockLoad,omitempty"`
	// UIDBase and UIDSize are where the pool of host ID ranges starts and
	// how many IDs each container gets (uid and gid alike); IDRanges is
	// the number of ranges in the pool (1: one common range for every
	// container, as Sysbox CE does). Files on shared volumes keep their
	// owners either way: the runtime ID-maps every mount.
	UIDBase  uint32 `json:"uidBase,omitempty"`
	UIDSize  uint32 `json:"uidSize,omitempty"`
	IDRanges int    `json:"idRanges,omitempty"`
	// IDState is the file holding which container has which range: kept
	// with the engine's state, so a container keeps its range across
	// restarts of the container and of the VM.
	IDState string `json:"idState,omitempty"`
	// DockerRoot is the engine's data root (its per-container files and
	// named volumes there may be bind-mounted; everything else is protected).
	DockerRoot string `json:"dockerRoot,omitempty"`
	// EngineSockets are the engine API sockets (mountable only by
	// allow-listed images).
	EngineSockets []string `json:"engineSockets,omitempty"`
	// ProtectedPaths may not be bind-mounted, nor may any path under or
	// above them.
	ProtectedPaths []string `json:"protectedPaths,omitempty"`
	// HostPaths turns on the rule of a VM that shares host directories
	// (hardenvm run --share): a bind-mount source that is not the VM's
	// own — not on its root file system, not the engine's data — is a
	// host path, and must be inside a shared directory (Env.Shares).
	// Otherwise the engine would make an empty directory in the VM and
	// the container would silently see that instead of the host's.
	HostPaths bool `json:"hostPaths,omitempty"`
	// Nesting lets containers without --privileged run Docker-in-Docker
	// and systemd (see nesting.go). Off by default.
	Nesting bool `json:"nesting,omitempty"`
	// BenchmarkRuntime is one more engine runtime name the authorization
	// plugin lets containers ask for (admin setting
	// benchmarkPlainRuntime): plain runc, for benchmarks only. "" (the
	// default) allows the hardened runtime alone.
	BenchmarkRuntime string `json:"benchmarkRuntime,omitempty"`
	// LXCFS is LXCFS's mount point: its per-container views of /proc and
	// /sys files are mounted into every container ("" turns them off).
	LXCFS string `json:"lxcfs,omitempty"`
	// Proxy is the admin's HTTP proxy (proxy, mode manual): containers
	// get it in their environment (proxyenv.go).
	Proxy *Proxy `json:"proxy,omitempty"`
	// RootfsOwnership is how rootfs ownership is handled: "auto" (ID-mapped
	// mount, else chown), "idmap" or "chown".
	RootfsOwnership string `json:"rootfsOwnership,omitempty"`
	// MountGuard keeps the initial mounts of containers that may mount
	// (CAP_SYS_ADMIN in their bounding set) in place: "on", the default
	// (a supervisor answers their mount calls, see
	// pkg/runtime/mountguard), or "off", for tests and benchmarks that
	// compare. It is isolation, so no admin setting turns it off.
	MountGuard string `json:"mountGuard,omitempty"`
}

// DefaultIDRanges is the size of the default pool: 4096 containers of
// 65536 IDs each from host ID 100000.
const DefaultIDRanges = 4096

// CommandList allows or denies engine commands by name.
type CommandList struct {
	Type     string   `json:"type,omitempty"` // "allow" or "deny"
	Commands []string `json:"commands,omitempty"`
}

// Default is the policy of the desktop image.
func Default() Settings {
	return Settings{
		UIDBase:    100000,
		UIDSize:    65536,
		IDRanges:   DefaultIDRanges,
		IDState:    "/var/lib/hardenvm/runtime/idranges.json",
		DockerRoot: "/var/lib/docker",
		EngineSockets: []string{
			"/run/docker.sock", "/var/run/docker.sock",
		},
		ProtectedPaths: []string{
			"/etc/docker", "/etc/hardenvm", "/run/hardenvm", "/var/lib/hardenvm",
			"/run/containerd", "/var/lib/containerd", "/run/docker", "/var/run/docker",
			"/boot", "/dev", "/proc", "/sys", "/lib/modules", "/usr/lib/modules",
			"/usr/sbin/runc", "/usr/bin/runc",
		},
		RootfsOwnership: "auto",
		LXCFS:           "/var/lib/lxcfs",
		MountGuard:      "on",
	}
}

// withDefaults fills empty fields from Default.
func (s Settings) withDefaults() Settings {
	d := Default()
	if s.UIDBase == 0 {
		s.UIDBase = d.UIDBase
	}
	if s.UIDSize == 0 {
		s.UIDSize = d.UIDSize
	}
	if s.IDRanges == 0 {
		s.IDRanges = d.IDRanges
	}
	if s.IDState == "" {
		s.IDState = d.IDState
	}
	if s.DockerRoot == "" {
		s.DockerRoot = d.DockerRoot
	}
	if s.EngineSockets == nil {
		s.EngineSockets = d.EngineSockets
	}
	if s.ProtectedPaths == nil {
		s.ProtectedPaths = d.ProtectedPaths
	}
	if s.RootfsOwnership == "" {
		s.RootfsOwnership = d.RootfsOwnership
	}
	if s.MountGuard == "" {
		s.MountGuard = d.MountGuard
	}
	return s
}

// Validate checks the settings that could weaken isolation if wrong.
func (s Settings) Validate() error {
	s = s.withDefaults()
	if s.UIDSize < 65536 {
		return fmt.Errorf("runtime settings: uidSize %d: want at least 65536", s.UIDSize)
	}
	if s.IDRanges < 1 {
		return fmt.Errorf("runtime settings: idRanges %d: want at least 1", s.IDRanges)
	}
	if uint64(s.UIDBase)+uint64(s.UIDSize)*uint64(s.IDRanges) > 1<<32-1 {
		return fmt.Errorf("runtime settings: uidBase %d + idRanges %d × uidSize %d overflows 32 bits", s.UIDBase, s.IDRanges, s.UIDSize)
	}
	switch s.CommandList.Type {
	case "", "allow", "deny":
	default:
		return fmt.Errorf("runtime settings: commandList.type %q: want allow or deny", s.CommandList.Type)
	}
	switch s.RootfsOwnership {
	case "auto", "idmap", "chown":
	default:
		return fmt.Errorf("runtime settings: rootfsOwnership %q: want auto, idmap or chown", s.RootfsOwnership)
	}
	if s.MountGuard != "on" && s.MountGuard != "off" {
		return fmt.Errorf("runtime settings: mountGuard %q: want on or off", s.MountGuard)
	}
	for _, p := range append(append([]string{s.DockerRoot, s.IDState}, s.EngineSockets...), s.ProtectedPaths...) {
		if !strings.HasPrefix(p, "/") {
			return fmt.Errorf("runtime settings: path %q: want an absolute path", p)
		}
	}
	return nil
}

// LoadSettings reads settings from a JSON file; unknown fields are errors
// so that a typo cannot silently weaken the policy.
func LoadSettings(path string) (Settings, error) {
	f, err := os.Open(path)
	if err != nil {
		return Settings{}, fmt.Errorf("runtime settings: %w", err)
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	var s Settings
	if err := dec.Decode(&s); err != nil {
		return Settings{}, fmt.Errorf("runtime settings: %s: %w", path, err)
	}
	if err := s.Validate(); err != nil {
		return Settings{}, fmt.Errorf("%w (in %s)", err, path)
	}
	return s.withDefaults(), nil
}
