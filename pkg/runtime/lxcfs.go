package runtime

import (
	"path/filepath"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// LXCFS: per-container views of /proc and /sys. LXCFS (Debian's lxcfs,
// started by the guest init) serves files under its mount point whose
// contents it computes for the process reading them, from that
// process's cgroup: the container's memory limit in meminfo, its CPUs in
// cpuinfo and /sys/devices/system/cpu, its own uptime, load and CPU
// times. The runtime bind-mounts them over the container's /proc and
// /sys entries, read-only.

// LXCFSFiles are the paths LXCFS serves, relative to its mount point,
// each mounted at the same path in the container.
var LXCFSFiles = []string{
	"proc/cpuinfo", "proc/meminfo", "proc/stat", "proc/uptime", "proc/loadavg",
	"proc/diskstats", "proc/swaps", "proc/slabinfo", "sys/devices/system/cpu",
}

// lxcfs adds LXCFS's files that are present (Env.LXCFS) to the mounts.
func (h *hardener) lxcfs() error {
	if h.set.LXCFS == "" || len(h.env.LXCFS) == 0 {
		return nil
	}
	n := 0
	for _, rel := range LXCFSFiles {
		if !slices.Contains(h.env.LXCFS, rel) {
			continue
		}
		dst := "/" + rel
		if slices.ContainsFunc(h.spec.Mounts, func(m specs.Mount) bool { return filepath.Clean(m.Destination) == dst }) {
			continue // the user mounted something there
		}
		h.spec.Mounts = append(h.spec.Mounts, specs.Mount{
			Destination: dst, Type: "bind", Source: filepath.Join(h.set.LXCFS, rel),
			Options: []string{"rbind", "ro", "nosuid", "nodev", "noexec"},
		})
		n++
	}
	if n > 0 {
		h.note("LXCFS views of %d /proc and /sys entries mounted from %s", n, h.set.LXCFS)
	}
	return nil
}
