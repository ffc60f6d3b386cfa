package mountguard

import (
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Trapped are the calls the supervisor answers (umount is i386's).
var Trapped = []string{"mount", "umount", "umount2"}

// NewMountAPI are refused with ENOSYS: each could remove, move or loosen
// a mount without passing through mount(2) (move_mount, mount_setattr),
// or clone a procfs mount without its masks (open_tree), and what fsopen
// and fsmount make is attached with move_mount. On ENOSYS runc, dockerd
// and libmount (util-linux mount) fall back to mount(2); on EPERM
// libmount fails the mount (seen in the desktop VM: systemd's tmp.mount).
// systemd 257 fails a service with credentials on ENOSYS (journald,
// tmpfiles, sysusers, sysctl in the desktop VM): the reason the guard is
// off by default (pkg/runtime/README.md, "Known limits").
var NewMountAPI = []string{"open_tree", "move_mount", "mount_setattr", "open_tree_attr", "fsopen", "fsconfig", "fsmount", "fspick"}

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
// for NewMountAPI, replacing whatever rules the profile had for them. The
// profile must exist (the policy gives every container that can mount
// one).
func AddRules(spec *specs.Spec, socket string) bool {
	if !Needed(spec) || spec.Linux.Seccomp == nil {
		return false
	}
	sc := spec.Linux.Seccomp
	ours := slices.Concat(Trapped, NewMountAPI)
	kept := sc.Syscalls[:0]
	for _, r := range sc.Syscalls {
		r.Names = slices.DeleteFunc(slices.Clone(r.Names), func(n string) bool { return slices.Contains(ours, n) })
		if len(r.Names) > 0 {
			kept = append(kept, r)
		}
	}
	enosys := uint(38)
	sc.Syscalls = append(kept,
		specs.LinuxSyscall{Names: slices.Clone(Trapped), Action: specs.ActNotify},
		specs.LinuxSyscall{Names: slices.Clone(NewMountAPI), Action: specs.ActErrno, ErrnoRet: &enosys},
	)
	sc.ListenerPath = socket
	return true
}

// RemoveRules undoes AddRules on a config whose listener is under
// stateDir: a bundle created a second time (runc allows it) must not keep
// the notify rules of a guard that is gone, or runc fails to connect.
func RemoveRules(spec *specs.Spec, stateDir string) {
	if spec.Linux == nil || spec.Linux.Seccomp == nil || !strings.HasPrefix(spec.Linux.Seccomp.ListenerPath, strings.TrimSuffix(stateDir, "/")+"/") {
		return
	}
	sc := spec.Linux.Seccomp
	sc.ListenerPath = ""
	sc.Syscalls = slices.DeleteFunc(sc.Syscalls, func(r specs.LinuxSyscall) bool {
		return r.Action == specs.ActNotify && slices.Equal(r.Names, Trapped) ||
			r.Action == specs.ActErrno && slices.Equal(r.Names, NewMountAPI)
	})
}
