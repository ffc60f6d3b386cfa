// Package runtime is the policy of hardenvm's hardened container runtime:
// a pure function from the OCI runtime-spec config that the engine wrote
// (config.json in the bundle) to a hardened config, or to a refusal.
//
// It implements the container side of Enhanced-Container-Isolation-like
// behaviour (DESIGN.md §6):
//   - every container gets a user namespace with a ≥65536-ID mapping that
//     never maps host root (--userns=host is overridden);
//   - --privileged keeps working but is confined: masked and read-only
//     /proc and /sys paths restored, host devices removed, no "a rwm"
//     device rule, a seccomp profile kept, capabilities clamped to what the
//     runtime itself holds;
//   - host pid, ipc, uts and network namespaces are refused (--network=host
//     arrives as a namespace path and is compared by device and inode with
//     the VM's own);
//   - bind mounts whose resolved source is a protected VM path are refused,
//     and so is the engine socket unless the image is allow-listed.
//
// The side effects (ID-mapped rootfs mounts, rewriting the bundle, running
// the real runtime) live in the subpackages idmap and shim; the engine API
// side (the Docker authorization plugin) in authz.
package runtime
