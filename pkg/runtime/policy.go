package runtime

import (
	"encoding/json"
	"fmt"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// FileID identifies a file (a namespace, here) by device and inode.
type FileID struct{ Dev, Ino uint64 }

// Env is what the policy needs to know about the machine, gathered by the
// caller so that Harden stays a pure function (tests pass fakes).
type Env struct {
	// ContainerID is the runtime's container ID (the engine's container ID
	// for Docker): its own files under DockerRoot may be bind-mounted.
	ContainerID string
	// HostNamespaces holds the VM's own namespaces ("pid", "network", …) by
	// device and inode.
	HostNamespaces map[string]FileID
	// StatNamespace returns the identity of a namespace path in the config.
	StatNamespace func(path string) (FileID, error)
	// Resolve returns path with every symlink and ".." resolved as the
	// kernel would when mounting it.
	Resolve func(path string) (string, error)
	// Capabilities is the set the runtime itself may grant (its bounding
	// set); nil means do not clamp.
	Capabilities []string
	// Image is the image the container runs, when known.
	Image *Image
	// Shares are the host directories shared with the VM, mounted at
	// their host paths (Settings.HostPaths).
	Shares []string
	// IDBase is the first host ID of the container's own range from the
	// pool (Settings.IDRanges); 0 means Settings.UIDBase.
	IDBase uint32
	// UserNamespaceBase returns the host ID that uid 0 of a user namespace
	// (a /proc/PID/ns/user path) maps to: a container that joins another
	// container's namespaces gets that container's range.
	UserNamespaceBase func(path string) (uint32, error)
	// LXCFS are the entries of LXCFSFiles that LXCFS serves under
	// Settings.LXCFS (the caller checks that it is mounted).
	LXCFS []string
	// OnRoot reports whether a resolved path is on the VM's root file
	// system (Settings.HostPaths); a path that does not exist is not.
	OnRoot func(path string) (bool, error)
}

// AnnotationPrivileged marks a hardened config whose engine asked for
// --privileged.
const AnnotationPrivileged = "org.hardenvm.privileged"

// Change records one thing Harden changed, for the log.
type Change struct {
	What string `json:"what"`
}

// Result is a hardened config and what was done to it.
type Result struct {
	Spec    *specs.Spec
	Changes []Change
}

// ParseConfig decodes a bundle's config.json.
func ParseConfig(data []byte) (*specs.Spec, error) {
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("oci config: %w", err)
	}
	if s.Linux == nil {
		return nil, fmt.Errorf("oci config: no \"linux\" section: only Linux containers are supported")
	}
	if s.Root == nil || s.Root.Path == "" {
		return nil, fmt.Errorf("oci config: no root.path")
	}
	return &s, nil
}

// Harden applies the policy to spec (which it does not modify) and returns
// the hardened copy, or a *Refusal, or another error when the machine could
// not be inspected.
func Harden(spec *specs.Spec, env Env, s Settings) (*Result, error) {
	s = s.withDefaults()
	if err := s.Validate(); err != nil {
		return nil, err
	}
	out, err := deepCopy(spec)
	if err != nil {
		return nil, err
	}
	if out.Linux == nil {
		return nil, fmt.Errorf("oci config: no \"linux\" section")
	}
	h := &hardener{spec: out, env: env, set: s}
	// Before devices() removes the sign of it; recorded for a config
	// hardened again (the shim may see a bundle twice). A user can set
	// the annotation too (docker run --annotation): all it gives is a
	// writable /proc/sys, see privilegedWritable.
	h.priv = h.privileged() || out.Annotations[AnnotationPrivileged] == "true"
	if h.priv {
		if out.Annotations == nil {
			out.Annotations = map[string]string{}
		}
		out.Annotations[AnnotationPrivileged] = "true"
	}
	for _, step := range []func() error{
		h.namespaces,
		h.userNamespace,
		h.mounts,
		h.devices,
		h.nesting,
		h.capabilities,
		h.paths,
		h.seccomp,
		h.lxcfs,
		h.proxyEnv,
	} {
		if err := step(); err != nil {
			return nil, err
		}
	}
	return &Result{Spec: out, Changes: h.changes}, nil
}

type hardener struct {
	spec    *specs.Spec
	env     Env
	set     Settings
	changes []Change
	priv    bool // the engine asked for --privileged
}

func (h *hardener) note(format string, args ...any) {
	h.changes = append(h.changes, Change{What: fmt.Sprintf(format, args...)})
}

// privileged reports whether the engine asked for --privileged, which it
// shows by an allow-all device cgroup rule.
func (h *hardener) privileged() bool {
	if h.spec.Linux.Resources == nil {
		return false
	}
	return slices.ContainsFunc(h.spec.Linux.Resources.Devices, allowsAll)
}

func deepCopy(s *specs.Spec) (*specs.Spec, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("oci config: %w", err)
	}
	var out specs.Spec
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("oci config: %w", err)
	}
	return &out, nil
}
