package runtime

import (
	"fmt"
	"regexp"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// required are the namespaces a container must have of its own. The engine
// shows a host namespace either by leaving the entry out (--pid=host,
// --ipc=host, --uts=host) or by a path to the host's namespace
// (--network=host passes its "default" netns file).
var required = []specs.LinuxNamespaceType{
	specs.MountNamespace, specs.PIDNamespace, specs.IPCNamespace,
	specs.UTSNamespace, specs.NetworkNamespace,
}

var nsNames = map[specs.LinuxNamespaceType]string{
	specs.MountNamespace: "mnt", specs.PIDNamespace: "pid", specs.IPCNamespace: "ipc",
	specs.UTSNamespace: "uts", specs.NetworkNamespace: "net", specs.CgroupNamespace: "cgroup",
	specs.UserNamespace: "user",
}

// NamespaceNames maps OCI namespace types to their /proc/PID/ns names.
func NamespaceNames() map[specs.LinuxNamespaceType]string { return nsNames }

func (h *hardener) namespaces() error {
	l := h.spec.Linux
	for _, typ := range required {
		i := slices.IndexFunc(l.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == typ })
		if i < 0 {
			return refuse(KeyECI, "sharing the host's %s namespace", nsNames[typ])
		}
		ns := l.Namespaces[i]
		if ns.Path == "" {
			continue
		}
		host, known := h.env.HostNamespaces[nsNames[typ]]
		if !known || h.env.StatNamespace == nil {
			return fmt.Errorf("policy: cannot tell whether %s namespace %s is the host's", nsNames[typ], ns.Path)
		}
		id, err := h.env.StatNamespace(ns.Path)
		if err != nil {
			return fmt.Errorf("policy: %s namespace %s: %w", nsNames[typ], ns.Path, err)
		}
		if id == host {
			return refuse(KeyECI, "sharing the host's %s namespace (%s)", nsNames[typ], ns.Path)
		}
	}
	// A cgroup namespace of its own, whatever the engine's cgroupns mode.
	i := slices.IndexFunc(l.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == specs.CgroupNamespace })
	switch {
	case i < 0:
		l.Namespaces = append(l.Namespaces, specs.LinuxNamespace{Type: specs.CgroupNamespace})
		h.note("added a cgroup namespace")
	case l.Namespaces[i].Path != "":
		l.Namespaces[i].Path = ""
		h.note("replaced the joined cgroup namespace with a new one")
	}
	return nil
}

// userNamespace gives the container a user namespace of its own with the
// admin's mapping, replacing whatever the config had (--userns=host, or an
// engine remap).
func (h *hardener) userNamespace() error {
	l := h.spec.Linux
	had := slices.ContainsFunc(l.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == specs.UserNamespace })
	l.Namespaces = slices.DeleteFunc(l.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == specs.UserNamespace })
	userns, err := h.joinedUserNamespace()
	if err != nil {
		return err
	}
	l.Namespaces = append(l.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace, Path: userns})
	if userns != "" {
		h.note("joined the user namespace %s of the container whose namespaces it shares", userns)
	}
	base, err := h.idBase(userns)
	if err != nil {
		return err
	}
	m := []specs.LinuxIDMapping{{ContainerID: 0, HostID: base, Size: h.set.UIDSize}}
	l.UIDMappings = m
	l.GIDMappings = slices.Clone(m)
	if had {
		h.note("replaced the user namespace: uid/gid 0-%d → host %d-%d", h.set.UIDSize-1, base, base+h.set.UIDSize-1)
	} else {
		h.note("added a user namespace: uid/gid 0-%d → host %d-%d", h.set.UIDSize-1, base, base+h.set.UIDSize-1)
	}
	// The engine opens ICMP sockets to every group ("0 2147483647"); in a
	// user namespace only mapped groups can be named, and the kernel
	// refuses the whole range.
	if v, ok := l.Sysctl["net.ipv4.ping_group_range"]; ok {
		var lo, hi uint64
		if _, err := fmt.Sscanf(v, "%d %d", &lo, &hi); err != nil {
			return refuse(KeyECI, "sysctl net.ipv4.ping_group_range=%q", v)
		}
		hi = min(hi, uint64(h.set.UIDSize-1))
		lo = min(lo, hi)
		if nv := fmt.Sprintf("%d %d", lo, hi); nv != v {
			l.Sysctl["net.ipv4.ping_group_range"] = nv
			h.note("sysctl net.ipv4.ping_group_range %q clamped to the mapped groups: %q", v, nv)
		}
	}
	if p := h.spec.Process; p != nil {
		ids := append([]uint32{p.User.UID, p.User.GID}, p.User.AdditionalGids...)
		for _, id := range ids {
			if id >= h.set.UIDSize {
				return refuse(KeyECI, "running as user or group %d (outside the container's %d IDs)", id, h.set.UIDSize)
			}
		}
	}
	return nil
}

// idBase is the first host ID of the container's range: the joined
// container's, else the one the pool gave it, else the pool's first. It
// must be the start of a range of the pool, so that host root and the
// VM's own users never map in.
func (h *hardener) idBase(joined string) (uint32, error) {
	base := h.set.UIDBase
	if h.env.IDBase != 0 {
		base = h.env.IDBase
	}
	if joined != "" && h.env.UserNamespaceBase != nil {
		b, err := h.env.UserNamespaceBase(joined)
		if err != nil {
			return 0, fmt.Errorf("policy: ID range of %s: %w", joined, err)
		}
		base = b
	}
	off := uint64(base) - uint64(h.set.UIDBase)
	if base < h.set.UIDBase || off%uint64(h.set.UIDSize) != 0 || off/uint64(h.set.UIDSize) >= uint64(h.set.IDRanges) {
		return 0, fmt.Errorf("policy: host ID %d is not the start of an ID range of the pool (uidBase %d, uidSize %d, idRanges %d)", base, h.set.UIDBase, h.set.UIDSize, h.set.IDRanges)
	}
	return base, nil
}

var procNS = regexp.MustCompile(`^/proc/([0-9]+)/ns/[a-z_]+$`)

// joinedUserNamespace returns the user namespace to join when the config
// joins another container's namespaces (--network=container:X,
// --ipc=container:X, --pid=container:X arrive as /proc/PID/ns/… paths):
// that container's own. A fresh user namespace could not mount /sys,
// /dev/mqueue or /proc for namespaces it does not own, so Sysbox does the
// same. A process outside any user namespace of ours (the host's) gives "",
// a fresh one: safe, though such a container may fail to start.
func (h *hardener) joinedUserNamespace() (string, error) {
	host, known := h.env.HostNamespaces["user"]
	if !known || h.env.StatNamespace == nil {
		return "", nil
	}
	for _, ns := range h.spec.Linux.Namespaces {
		m := procNS.FindStringSubmatch(ns.Path)
		if m == nil || ns.Type == specs.UserNamespace {
			continue
		}
		p := "/proc/" + m[1] + "/ns/user"
		id, err := h.env.StatNamespace(p)
		if err != nil {
			return "", fmt.Errorf("policy: user namespace of %s: %w", ns.Path, err)
		}
		if id != host {
			return p, nil
		}
	}
	return "", nil
}
