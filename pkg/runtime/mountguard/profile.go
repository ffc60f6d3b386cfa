package mountguard

import (
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Trapped are the calls the supervisor answers (umount is i386's): the
// ones that can remove, move, loosen or cover an attached mount, and
// open_tree, whose non-recursive clone would show what a mask hides.
var Trapped = []string{"mount", "umount", "umount2", "move_mount", "mount_setattr", "open_tree"}

// Allowed are the parts of the new mount API that touch no attached
// mount: fsopen, fsconfig and fsmount make a new file system and a
// detached mount of it (attached only by move_mount, which is trapped),
// as mount(2) of a new file system does with the caller's credentials;
// fspick with fsconfig's FSCONFIG_CMD_RECONFIGURE changes a file
// system's options, never a mount's own flags (a read-only mount stays
// read-only: unlike mount(2) with MS_REMOUNT, which sets both). They are
// allowed whatever the engine's profile says, as mount(2) is for a
// container with CAP_SYS_ADMIN. systemd 257 sets a service's credentials
// up with them and fails on ENOSYS; libmount (util-linux 2.39 and later)
// mounts with them.
var Allowed = []string{"fsopen", "fsconfig", "fsmount", "fspick"}

// NewMountAPI are refused with ENOSYS: open_tree_attr (Linux 6.15) is
// open_tree and mount_setattr in one call, and its callers fall back to
// those two on ENOSYS, as on a kernel without it.
var NewMountAPI = []string{"open_tree_attr"}

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
// the supervisor listening on socket: SCMP_ACT_NOTIFY for Trapped, allow
// for Allowed, ENOSYS for NewMountAPI, replacing whatever rules the profile had for them. The
// profile must exist (the policy gives every container that can mount
// one).
func AddRules(spec *specs.Spec, socket string) bool {
	if !Needed(spec) || spec.Linux.Seccomp == nil {
		return false
	}
	sc := spec.Linux.Seccomp
	ours := slices.Concat(Trapped, Allowed, NewMountAPI)
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
		specs.LinuxSyscall{Names: slices.Clone(Allowed), Action: specs.ActAllow},
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
			r.Action == specs.ActAllow && slices.Equal(r.Names, Allowed) ||
			r.Action == specs.ActErrno && slices.Equal(r.Names, NewMountAPI)
	})
}
