// Package mountguard keeps a container's initial mounts in place: the
// masks over /proc and /sys files, the read-only /proc paths and the bind
// mounts the runtime made cannot be unmounted, moved, remounted read-write
// or covered, while the mounts a container makes itself (an inner engine,
// systemd, a nested runc with its own procfs and masks) stay its own.
//
// The kernel's own mount locking cannot do this for a container that
// nests: a locked mask makes /proc not "fully visible", and the kernel then
// refuses every new procfs mount in the container (pkg/runtime/README.md,
// "Known limits"). So, as Sysbox does, the runtime traps mount(2) and
// umount2(2) with seccomp user notification (seccomp_unotify(2)): AddRules
// puts SCMP_ACT_NOTIFY rules and a listener path into the container's
// profile, runc hands the notify descriptor of each container process to
// the listener (linux.seccomp.listenerPath), and a per-container
// supervisor (Serve) answers each trapped call. The shim does this only
// with the runtime setting mountGuard "on"; it is off by default until
// systemd's credentials work under it (see NewMountAPI).
//
// What the supervisor does, call by call, and why each answer is free of
// time-of-check-to-time-of-use races (seccomp_unotify(2) warns that
// SECCOMP_USER_NOTIF_FLAG_CONTINUE is unsafe for security decisions: the
// kernel reads the path arguments again after the supervisor looked at
// them, and another thread may have changed them, or the file tree):
//
//   - umount2, and mount with MS_MOVE or with MS_REMOUNT|MS_BIND: performed
//     by the supervisor on the caller's behalf, never continued. A thread
//     of the supervisor enters the caller's mount namespace, root and
//     working directory, opens the path once (O_PATH), decides on the
//     mount that descriptor is on (its mount ID, statx STATX_MNT_ID), and
//     acts on that same descriptor through its /proc/thread-self/fd magic
//     link. What is decided is what is acted on. These operations do not
//     depend on the caller's credentials beyond the permission check,
//     which the supervisor repeats (CAP_SYS_ADMIN in the user namespace
//     owning the caller's mount namespace); the kernel's own locks
//     (MNT_LOCKED, locked mount flags) apply to the supervisor too.
//   - mount that only changes propagation (MS_SHARED, MS_PRIVATE, MS_SLAVE,
//     MS_UNBINDABLE, with MS_REC), and any remount that sets MS_RDONLY:
//     continued. The decision reads only the flags, which the kernel keeps
//     in registers and does not read again from memory, so no substitution
//     of a path changes what the call may do: it cannot remove, move or
//     make writable any mount.
//   - mount that makes a new mount (a new file system, or MS_BIND) and a
//     superblock remount without MS_RDONLY: the target (and a bind's
//     source) is checked — in the container's own mount namespace a new
//     mount may not cover a guarded one (a path bound onto itself may: it
//     shows what it showed); in a nested namespace covering is allowed
//     (systemd moves a fresh procfs or sysfs over /proc or /sys for its
//     services), taking copies away is not — then the call continues with the caller's own
//     credentials, which such mounts need (a tmpfs or overlay belongs to
//     the user namespace of whoever mounts it; a process of the caller's
//     namespaces cannot be made without cgo). A racing thread can swap the
//     path after the check; what it can gain is then bounded: a new mount
//     made with the caller's credentials covers what is below it and
//     removes or loosens nothing, and what it can show that a mask hides is
//     no more than a fresh procfs or sysfs mount shows — which a container
//     that nests (runc makes one per inner container) must be allowed. The
//     kernel's own checks stay in force either way (/proc/kcore needs
//     CAP_SYS_RAWIO in the VM's user namespace; sysrq-trigger and global
//     sysctls belong to the VM's root). Read-only mounts made on the host
//     side (volumes with :ro, --read-only) are locked by the kernel.
//   - the new mount API (open_tree, move_mount, mount_setattr, fsopen,
//     fsconfig, fsmount, fspick): refused by the profile with ENOSYS, so
//     that it is not a way around; runc, dockerd and libmount fall back to
//     mount(2). systemd 257 does not for a service's credentials (it
//     falls back on EPERM only, which libmount does not): see NewMountAPI.
//
// Which mounts are protected: every mount in the container's mount
// namespace when the supervisor first hears from it (runc sends the
// descriptor after the container's mounts are made and before its process
// runs, and every later mount call waits for the supervisor), by mount ID;
// and, in any namespace, every mount that covers the same place on a procfs
// or sysfs file system as an initial one (copies made by unshare(CLONE_NEWNS)
// or a recursive bind have new IDs but hide the same file). A nested runc's
// own masks cover its own, fresh procfs, so it may remove them.
//
// If the supervisor dies, the kernel answers every trapped call with
// ENOSYS (no listener), so a container's mounts fail closed and nothing
// waits on it; a later `runc exec` fails to connect to the listener. Every
// wait of the supervisor is bounded.
//
// Only x86-64 (and x32) callers are served; an i386 caller's mount gets
// EPERM.
package mountguard
