package runtime

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// mountTypes are the filesystems a container may have mounted for it by
// the runtime. Anything else (a block device's ext4, say) is refused:
// host block devices stay on the host.
var mountTypes = []string{"bind", "proc", "sysfs", "tmpfs", "devpts", "mqueue", "cgroup", "cgroup2", ""}

func isBind(m specs.Mount) bool {
	return m.Type == "bind" || slices.Contains(m.Options, "bind") || slices.Contains(m.Options, "rbind")
}

func (h *hardener) mounts() error {
	sockets, err := h.resolveAll(h.set.EngineSockets)
	if err != nil {
		return err
	}
	protected, err := h.resolveAll(h.set.ProtectedPaths)
	if err != nil {
		return err
	}
	roots, err := h.resolveAll([]string{h.set.DockerRoot})
	if err != nil {
		return err
	}
	dockerRoot := roots[0]
	for i := range h.spec.Mounts {
		m := &h.spec.Mounts[i]
		if len(m.UIDMappings) > 0 || len(m.GIDMappings) > 0 {
			m.UIDMappings, m.GIDMappings = nil, nil
			h.note("dropped the ID mapping of mount %s (the runtime maps mounts itself)", m.Destination)
		}
		if !isBind(*m) {
			if !slices.Contains(mountTypes, m.Type) {
				return refuse(KeyECI, "a %q mount of %s", m.Type, m.Source)
			}
			continue
		}
		if !filepath.IsAbs(m.Source) {
			return refuse(KeyECI, "bind mount of relative path %q", m.Source)
		}
		src, err := h.resolve(m.Source)
		if err != nil {
			return fmt.Errorf("policy: bind mount source %s: %w", m.Source, err)
		}
		shown := src
		if src != m.Source {
			shown = fmt.Sprintf("%s (via %s)", src, m.Source)
		}
		switch {
		case slices.Contains(sockets, src):
			if !ImageAllowed(h.set.SocketImages, h.env.Image) {
				return refuse(KeySocketMount, "mounting the engine socket %s into this image", shown)
			}
			h.note("engine socket %s mounted: the image is allow-listed", src)
		case slices.ContainsFunc(sockets, func(s string) bool { return under(s, src) }):
			return refuse(KeyECI, "bind mount of %s (it holds the engine socket)", shown)
		case under(src, dockerRoot) || under(dockerRoot, src):
			if !engineOwned(src, dockerRoot, h.env.ContainerID) {
				return refuse(KeyECI, "bind mount of the engine's data %s", shown)
			}
		default:
			for _, p := range protected {
				if under(src, p) || under(p, src) {
					return refuse(KeyECI, "bind mount of the protected VM path %s", shown)
				}
			}
			if err := h.hostPath(src, shown); err != nil {
				return err
			}
		}
		if src != m.Source {
			h.note("bind mount source %s resolved to %s", m.Source, src)
			m.Source = src
		}
		for j, o := range m.Options {
			if o == "shared" || o == "rshared" {
				m.Options[j] = strings.Replace(o, "shared", "slave", 1)
				h.note("bind mount %s: %s propagation made %s (container mounts must not reach the VM)", m.Destination, o, m.Options[j])
			}
		}
	}
	if p := h.spec.Linux.RootfsPropagation; strings.Contains(p, "shared") {
		h.spec.Linux.RootfsPropagation = strings.Replace(p, "shared", "slave", 1)
		h.note("rootfs propagation %s made %s", p, h.spec.Linux.RootfsPropagation)
	}
	return nil
}

// hostPath refuses a bind of a host path that is not shared with the VM
// (Settings.HostPaths): a source that is neither inside a share nor on the
// VM's root file system.
func (h *hardener) hostPath(src, shown string) error {
	if !h.set.HostPaths {
		return nil
	}
	for _, s := range h.env.Shares {
		if under(src, filepath.Clean(s)) {
			return nil
		}
	}
	if h.env.OnRoot == nil {
		return fmt.Errorf("policy: BUG: Settings.HostPaths without Env.OnRoot")
	}
	onRoot, err := h.env.OnRoot(src)
	if err != nil {
		return fmt.Errorf("policy: bind mount source %s: %w", src, err)
	}
	if !onRoot {
		return refuse(KeyFileSharing, "bind mount of %s, a host path that is not shared with the VM (hardenvm run --share),", shown)
	}
	return nil
}

// engineOwned reports whether src under the engine's data root is one the
// engine itself hands to containers: this container's own files, another
// container's hostname, hosts, resolv.conf or shm (--network=container:…,
// --ipc=container:…), or a named volume's data.
func engineOwned(src, root, id string) bool {
	rel, err := filepath.Rel(root, src)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return false
	}
	parts := strings.Split(rel, "/")
	switch {
	case len(parts) >= 3 && parts[0] == "containers" && id != "" && parts[1] == id:
		return true
	case len(parts) == 3 && parts[0] == "containers" && slices.Contains([]string{"hostname", "hosts", "resolv.conf"}, parts[2]):
		return true
	case len(parts) == 4 && parts[0] == "containers" && parts[2] == "mounts" && parts[3] == "shm":
		return true
	case len(parts) >= 3 && parts[0] == "volumes" && parts[2] == "_data":
		return true
	}
	return false
}

// under reports whether p is dir or inside it (both clean and absolute).
func under(p, dir string) bool {
	if dir == "/" {
		return true
	}
	return p == dir || strings.HasPrefix(p, dir+"/")
}

func (h *hardener) resolve(p string) (string, error) {
	if h.env.Resolve == nil {
		return filepath.Clean(p), nil
	}
	r, err := h.env.Resolve(p)
	if err != nil {
		return "", err
	}
	return filepath.Clean(r), nil
}

// resolveAll resolves the policy's own paths; both their written and
// resolved forms are returned so that a link like /var/run → /run is
// covered either way.
func (h *hardener) resolveAll(ps []string) ([]string, error) {
	var out []string
	for _, p := range ps {
		r, err := h.resolve(p)
		if err != nil {
			return nil, fmt.Errorf("policy: %s: %w", p, err)
		}
		out = append(out, r)
		if c := filepath.Clean(p); c != r {
			out = append(out, c)
		}
	}
	return out, nil
}
