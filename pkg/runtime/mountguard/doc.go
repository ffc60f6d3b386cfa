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
// umount2(2), and of the new mount API move_mount(2), mount_setattr(2)
// and open_tree(2), with seccomp user notification (seccomp_unotify(2)): AddRules
// puts SCMP_ACT_NOTIFY rules and a listener path into the container's
// profile, runc hands the notify descriptor of each container process to
// the listener (linux.seccomp.listenerPath), and a per-container
// supervisor (Serve) answers each trapped call. The shim does this for
// every container that may mount (runtime setting mountGuard, "on" by
// default; "off" is for tests and benchmarks that compare).
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
//   - umount2 in a nested mount namespace also propagates: a copy made by
//     unshare(CLONE_NEWNS) under the same user namespace is a peer of the
//     mount it copies where that was shared (systemd as PID 1 makes /
//     rshared), and the kernel takes away the mounts at the same place
//     under the peers of the parent (propagate_umount, fs/pnode.c). Such
//     an umount is refused when one of the mounts it takes away (with
//     MNT_DETACH, its tree) sits where a guarded mount of the container's
//     own namespace sits under a peer (same peer group, same place). It
//     is decided on the same statx as the umount itself; peer groups
//     change only by the propagation calls, and a peer group joined in
//     between leads, at worst, to the unmasked view the bound below
//     allows. (A new mount in a nested namespace propagates into the
//     container's own too, covering what is there: that is the covering
//     bounded below.)
//   - the new mount API. fsopen, fsconfig, fsmount and fspick are allowed
//     by the profile (Allowed): fsopen, fsconfig and fsmount make a new
//     superblock and a detached mount of it, with the caller's
//     credentials, which is what mount(2) of a new file system does, and
//     which the kernel checks as it does there (mount_too_revealing holds
//     a fresh procfs or sysfs to what is fully visible); nothing attached
//     changes until move_mount, which is trapped. What a detached mount
//     shows through its descriptor is a file system of the caller's own
//     making: for procfs and sysfs, what a fresh one shows (the bound
//     below). fspick with FSCONFIG_CMD_RECONFIGURE changes a superblock's
//     options with the caller's credentials (CAP_SYS_ADMIN over the
//     superblock's user namespace, the kernel's check), never a mount's
//     own flags: the masks and read-only paths are read-only mounts
//     (MNT_READONLY) and stay so, unlike with mount(2)'s MS_REMOUNT, which
//     sets both and is checked above.
//   - move_mount: performed by the supervisor, never continued. The
//     caller's descriptors are duplicated with pidfd_getfd (the same open
//     file, so the same mount, whatever the caller then does with its
//     descriptor table; the pidfd is the calling thread's, PIDFD_THREAD,
//     and the notification is checked pending after it is opened, so a
//     reused thread ID names no other process), paths are opened once (O_PATH) in its namespace
//     as for umount2, the decision is made on the mounts those are on, and
//     the move is made on the same descriptors (MOVE_MOUNT_F_EMPTY_PATH,
//     MOVE_MOUNT_T_EMPTY_PATH). The rules are mount(2)'s: an attached
//     guarded mount is not moved; a mount (attached, or detached: from
//     fsmount or an open_tree clone) may not cover a guarded one in the
//     container's own namespace, and may in a nested one; nothing goes
//     beneath a guarded mount (MOVE_MOUNT_BENEATH would give it a new
//     parent, and copies are known by their place); MOVE_MOUNT_SET_GROUP
//     changes propagation only and is performed. move_mount needs no
//     credential beyond CAP_SYS_ADMIN over the caller's mount namespace,
//     which the supervisor checks first (mayMount).
//   - mount_setattr: with MOUNT_ATTR_IDMAP continued: the kernel maps
//     only a detached mount that was never attached, and checks every
//     mount of a recursive call before it changes any, so the call cannot
//     reach a mount of the container's tree whatever a racing thread
//     swaps in; and an ID mapping needs the caller's own credentials over
//     the file system, which the supervisor (the VM's root) must not lend.
//     Otherwise performed on the descriptor decided on, unless it clears
//     ro, nosuid, nodev, noexec or nosymfollow on a guarded mount that has
//     it (with AT_RECURSIVE, on any mount of the tree as the caller's
//     mountinfo shows it after the open). Propagation changes are allowed,
//     as with mount(2). A mount a racing thread adds under the tree after
//     the table was read (a continued bind) is not checked; it is a copy,
//     and what it can then show writable is what a fresh procfs shows.
//   - open_tree: without OPEN_TREE_CLONE (a descriptor of an attached
//     mount, which only trapped calls can change) or with AT_RECURSIVE (a
//     copy that keeps the masks) continued, decided on the flags alone as
//     above. A non-recursive clone is checked as a non-recursive bind with
//     mount(2) (it may not leave a guarded mount on procfs or sysfs
//     behind) and continued: the kernel makes the copy in the caller's
//     name; a racing thread's swap gets a copy bounded as below.
//     open_tree_attr (Linux 6.15, both in one call) is refused with ENOSYS
//     (NewMountAPI): its callers fall back to open_tree and mount_setattr,
//     as on an older kernel.
//
// What the racing cases above can gain is bounded by one rule: a
// container that nests must be allowed a fresh procfs and sysfs (runc
// makes one per inner container), and such a mount shows every file a
// mask hides, writable where the kernel lets the container write; so no
// path through the guard may show more than that, and none does. The
// guard's refusals are EPERM; util-linux's mount and systemd report it as
// the mount's failure.
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
