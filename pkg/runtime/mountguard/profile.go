package mountguard

import (
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Trapped are the calls the supervisor answers (umount is i386's).
var Trapped = []string{"mount", "umount", "umount2"}

// NewMountAPI are refused with ENOSYS: each could remove, move or loosen
// a mount without passing through mount(2) (move_mount, mount_setattr),
// or clone a procfs mount without its masks (open_tree); callers fall
// back to mount(2) on ENOSYS.
var NewMountAPI = []string{"open_tree", "move_mount", "mount_setattr", "open_tree_attr"}

// NewFSAPI, the file-system contexts of the new mount API, are refused
// with EPERM: what they make can only be attached with move_mount, and
// systemd falls back to a plain directory for a service's credentials on
// EPERM but fails the service on ENOSYS (seen in the desktop VM: journald,
// tmpfiles, sysusers and sysctl failed).
var NewFSAPI = []string{"fsopen", "fsconfig", "fsmount", "fspick"}

// Needed reports whether a container can mount at all: its bounding set
// holds CAP_SYS_ADMIN (--privileged, --cap-add SYS_ADMIN, the nesting
// setting). Without it the kernel refuses mount and umount2 already.
func Needed(spec *specs.Spec) bool {
	if spec.Process == nil || spec.Process.Capabilities == nil || spec.Linux == nil {
		return false
	}
	return slices.Contains(spec.Process.Capabilities.Bounding, "CAP_SYS_ADMIN")
}

// AddRules makes the container's seccomp profile send its mount calls to
// the supervisor listening on socket: SCMP_ACT_NOTIFY for Trapped, ENOSYS
// for NewMountAPI, EPERM for NewFSAPI, replacing whatever rules the profile had for them. The
// profile must exist (the policy gives every container that can mount
// one).
func AddRules(spec *specs.Spec, socket string) bool {
	if !Needed(spec) || spec.Linux.Seccomp == nil {
		return false
	}
	sc := spec.Linux.Seccomp
	ours := slices.Concat(Trapped, NewMountAPI, NewFSAPI)
	kept := sc.Syscalls[:0]
	for _, r := range sc.Syscalls {
		r.Names = slices.DeleteFunc(slices.Clone(r.Names), func(n string) bool { return slices.Contains(ours, n) })
		if len(r.Names) > 0 {
			kept = append(kept, r)
		}
	}
	enosys, eperm := uint(38), uint(1)
	sc.Syscalls = append(kept,
		specs.LinuxSyscall{Names: slices.Clone(Trapped), Action: specs.ActNotify},
		specs.LinuxSyscall{Names: slices.Clone(NewMountAPI), Action: specs.ActErrno, ErrnoRet: &enosys},
		specs.LinuxSyscall{Names: slices.Clone(NewFSAPI), Action: specs.ActErrno, ErrnoRet: &eperm},
	)
	sc.ListenerPath = socket
	return true
}
