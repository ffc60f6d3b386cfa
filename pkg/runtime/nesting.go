package runtime

import (
	"slices"
	"strings"
)

// nesting grants a container without --privileged what Docker-in-Docker
// and systemd need, as Sysbox and ECI do, when the admin turns on
// Settings.Nesting: every capability the runtime holds (inside the
// container's user namespace, where they reach only the container's own
// namespaces), the confined seccomp profile instead of the engine's
// (which refuses mount and unshare to a container it gave no
// CAP_SYS_ADMIN), its delegated cgroup and /sys mounted writable (as
// the engine mounts them for --privileged: a nested runtime mounts a new
// sysfs writable, which the kernel allows in a user namespace only where
// the container's own sysfs is not read-only) and /proc/sys writable for
// its own network namespace. Host devices, masked paths and
// the rest of the policy stay as for any container: this is what
// --privileged gets here, without asking for it.
func (h *hardener) nesting() error {
	if !h.set.Nesting || h.priv {
		return nil
	}
	if p := h.spec.Process; p != nil && p.Capabilities != nil && h.env.Capabilities != nil {
		all := slices.Clone(h.env.Capabilities)
		p.Capabilities.Bounding = all
		p.Capabilities.Effective = slices.Clone(all)
		p.Capabilities.Permitted = slices.Clone(all)
	}
	h.spec.Linux.Seccomp = nil // seccomp() installs the confined profile
	for i := range h.spec.Mounts {
		m := &h.spec.Mounts[i]
		if ((m.Type == "cgroup" || m.Type == "cgroup2") && m.Destination == "/sys/fs/cgroup") || (m.Type == "sysfs" && m.Destination == "/sys") {
			m.Options = slices.DeleteFunc(m.Options, func(o string) bool { return o == "ro" })
			if !slices.Contains(m.Options, "rw") {
				m.Options = append(m.Options, "rw")
			}
		}
	}
	h.note("nesting (admin setting nesting): all capabilities in the container's user namespace, the confined seccomp profile, a writable cgroup, /sys and /proc/sys")
	return nil
}

// writableProcSys reports whether /proc/sys stays writable: for
// --privileged and nesting containers.
func (h *hardener) writableProcSys(p string) bool {
	return (h.priv || h.set.Nesting) && slices.Contains(privilegedWritable, p) && !strings.HasPrefix(p, "/proc/sysrq")
}
