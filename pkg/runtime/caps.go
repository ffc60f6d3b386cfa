package runtime

import (
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// capabilities clamps every capability set to what the runtime may grant:
// a capability the runtime lacks cannot be given, and asking runc for it
// fails the whole container ("unable to apply caps").
func (h *hardener) capabilities() error {
	p := h.spec.Process
	if p == nil || p.Capabilities == nil || h.env.Capabilities == nil {
		return nil
	}
	allowed := map[string]bool{}
	for _, c := range h.env.Capabilities {
		allowed[strings.ToUpper(c)] = true
	}
	var gone []string
	clamp := func(set []string) []string {
		return slices.DeleteFunc(set, func(c string) bool {
			if allowed[strings.ToUpper(c)] {
				return false
			}
			if !slices.Contains(gone, c) {
				gone = append(gone, c)
			}
			return true
		})
	}
	c := p.Capabilities
	c.Bounding = clamp(c.Bounding)
	c.Effective = clamp(c.Effective)
	c.Permitted = clamp(c.Permitted)
	c.Inheritable = clamp(c.Inheritable)
	c.Ambient = clamp(c.Ambient)
	if len(gone) > 0 {
		h.note("dropped capabilities the runtime does not hold: %s", strings.Join(gone, " "))
	}
	return nil
}

// Default masked and read-only paths, as the engine sets them for a
// non-privileged container (moby oci/defaults.go), which --privileged and
// --security-opt systempaths=unconfined clear.
var (
	defaultMasked = []string{
		"/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
		"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
		"/sys/firmware", "/sys/devices/virtual/powercap",
	}
	defaultReadonly = []string{
		"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
	}
)

// privilegedWritable are the read-only paths a --privileged container
// may write: /proc/sys, whose entries of the container's own namespaces
// (net.*, the container's network) an inner engine sets, while every
// VM-wide entry stays owned by the VM's root, which the container's user
// namespace does not map (the kernel refuses the write).
var privilegedWritable = []string{"/proc/sys"}

func (h *hardener) paths() error {
	l := h.spec.Linux
	added := 0
	for _, p := range defaultMasked {
		if !slices.Contains(l.MaskedPaths, p) {
			l.MaskedPaths = append(l.MaskedPaths, p)
			added++
		}
	}
	for _, p := range defaultReadonly {
		if h.writableProcSys(p) {
			l.ReadonlyPaths = slices.DeleteFunc(l.ReadonlyPaths, func(q string) bool { return q == p })
			continue
		}
		if !slices.Contains(l.ReadonlyPaths, p) {
			l.ReadonlyPaths = append(l.ReadonlyPaths, p)
			added++
		}
	}
	if added > 0 {
		h.note("restored %d masked or read-only /proc and /sys paths", added)
	}
	return nil
}

// confinedSyscalls are refused (EPERM) in containers that come without a
// seccomp profile (--privileged, seccomp=unconfined). The user namespace
// already denies them; the profile is the second wall. mount, unshare and
// clone stay allowed: privileged containers mount and nest namespaces.
var confinedSyscalls = []string{
	"kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
	"create_module", "query_module", "get_kernel_syms",
	"open_by_handle_at", "bpf", "perf_event_open", "lookup_dcookie",
	"acct", "swapon", "swapoff",
	"iopl", "ioperm", "syslog", "quotactl", "nfsservctl", "uselib",
	"settimeofday", "stime", "clock_settime", "clock_settime64", "vm86", "vm86old",
	"userfaultfd",
}

// absentSyscalls are refused as if the kernel lacked them (ENOSYS): the
// keyring calls, which runc (also one nested inside a container) skips
// on ENOSYS but fails on EPERM ("unable to join session keyring").
var absentSyscalls = []string{"add_key", "request_key", "keyctl"}

func (h *hardener) seccomp() error {
	l := h.spec.Linux
	if l.Seccomp != nil {
		return nil
	}
	eperm, enosys := uint(1), uint(38)
	l.Seccomp = &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
		Syscalls: []specs.LinuxSyscall{{
			Names:    slices.Clone(confinedSyscalls),
			Action:   specs.ActErrno,
			ErrnoRet: &eperm,
		}, {
			Names:    slices.Clone(absentSyscalls),
			Action:   specs.ActErrno,
			ErrnoRet: &enosys,
		}},
	}
	h.note("added the confined seccomp profile (%d syscalls refused)", len(confinedSyscalls)+len(absentSyscalls))
	return nil
}
