package shim

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// cgroup v2 delegation. The container runs in a cgroup namespace of its
// own whose root is its cgroup; the shim hands that cgroup to the
// container's root as the kernel's "Delegation" section of
// Documentation/admin-guide/cgroup-v2.rst describes: the directory and
// its cgroup.procs, cgroup.threads and cgroup.subtree_control are chowned
// to the user that the container's uid 0 maps to. The container's root
// can then make sub-cgroups, enable the controllers it was given for
// them and move its own processes (an inner dockerd, systemd), while the
// cgroup's own limits (memory.max, pids.max, …) stay owned by the VM's
// root and the cgroup namespace keeps everything above out of sight.
//
// runc 1.1 creates the cgroup but does not delegate it (runc 1.2 does,
// for cgroupns containers with a user namespace). For `create` with a
// --pid-file (how containerd creates every container) the shim delegates
// once runc has created the container: its cgroup exists and its process
// waits for `start` in runc's init, so nothing of the container has run
// yet; should delegation fail, the shim deletes the container and the
// create fails. For `run`, or a create without a pid file, the shim adds
// a createRuntime hook instead, which runc runs in the runtime's
// namespaces after the cgroup exists and before the container's process
// starts: the hook is the shim's own binary, called with delegateArg.
// The hook costs a start of that binary (under TCG a good part of a
// second per container); the delegation after create costs none.

// delegateArg makes the shim's binary act as the createRuntime hook.
const delegateArg = "__hardenvm_delegate_cgroup"

// delegatedFiles are a cgroup's files that delegation hands over, besides
// the directory itself.
var delegatedFiles = []string{"cgroup.procs", "cgroup.threads", "cgroup.subtree_control"}

// cgroupRoot is where the VM's cgroup2 hierarchy is mounted.
var cgroupRoot = "/sys/fs/cgroup"

// addDelegateHook adds the delegation hook for the container's root (its
// uid and gid 0 as the VM sees them) to spec.
func addDelegateHook(spec *specs.Spec, self string) {
	uid, gid, ok := rootIDs(spec)
	if !ok || !cgroup2() {
		return
	}
	dropDelegateHook(spec) // a bundle created twice keeps one
	if spec.Hooks == nil {
		spec.Hooks = &specs.Hooks{}
	}
	spec.Hooks.CreateRuntime = append(spec.Hooks.CreateRuntime, specs.Hook{
		Path: self,
		Args: []string{self, delegateArg, strconv.FormatUint(uint64(uid), 10), strconv.FormatUint(uint64(gid), 10)},
	})
}

// dropDelegateHook removes the delegation hook from spec: a bundle
// hardened before (created twice, runc allows it) may hold one.
func dropDelegateHook(spec *specs.Spec) {
	if spec.Hooks == nil {
		return
	}
	spec.Hooks.CreateRuntime = slices.DeleteFunc(spec.Hooks.CreateRuntime, func(h specs.Hook) bool {
		return len(h.Args) > 1 && h.Args[1] == delegateArg
	})
}

// owner is a container root's host uid and gid.
type owner struct{ uid, gid uint32 }

// delegation decides how the container's cgroup is delegated: after
// create (a non-nil owner, no hook) or by the hook added to spec (nil).
// Without cgroup v2 or a mapped root there is nothing to delegate.
func delegation(c *cmdline, spec *specs.Spec, self string) *owner {
	uid, gid, ok := rootIDs(spec)
	if !ok || !cgroup2() {
		return nil
	}
	if c.command == "create" && c.pidFile != "" {
		dropDelegateHook(spec)
		return &owner{uid, gid}
	}
	addDelegateHook(spec, self)
	return nil
}

// delegateCreated delegates the cgroup of a container that runc has just
// created, whose init's pid runc wrote to pidFile.
func delegateCreated(pidFile string, o owner) error {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return fmt.Errorf("cgroup delegation: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return fmt.Errorf("cgroup delegation: pid file %s holds %q", pidFile, b)
	}
	return delegatePid(pid, int(o.uid), int(o.gid))
}

// rootIDs returns the host IDs the container's uid and gid 0 map to.
func rootIDs(spec *specs.Spec) (uid, gid uint32, ok bool) {
	find := func(ms []specs.LinuxIDMapping) (uint32, bool) {
		for _, m := range ms {
			if m.ContainerID == 0 && m.Size > 0 {
				return m.HostID, true
			}
		}
		return 0, false
	}
	if spec.Linux == nil {
		return 0, 0, false
	}
	uid, ok1 := find(spec.Linux.UIDMappings)
	gid, ok2 := find(spec.Linux.GIDMappings)
	return uid, gid, ok1 && ok2 && uid != 0 && gid != 0
}

// delegateHook is the body of the delegateArg hook: argv holds the uid
// and gid, stdin the container's OCI state.
func delegateHook(argv []string, stdin io.Reader) error {
	if len(argv) != 2 {
		return fmt.Errorf("cgroup delegation hook: want uid and gid, got %q", argv)
	}
	uid, err1 := strconv.ParseUint(argv[0], 10, 32)
	gid, err2 := strconv.ParseUint(argv[1], 10, 32)
	if err := errors.Join(err1, err2); err != nil || uid == 0 || gid == 0 {
		return fmt.Errorf("cgroup delegation hook: uid %q gid %q: want non-zero IDs", argv[0], argv[1])
	}
	var st specs.State
	if err := json.NewDecoder(io.LimitReader(stdin, 1<<20)).Decode(&st); err != nil {
		return fmt.Errorf("cgroup delegation hook: container state: %w", err)
	}
	if st.Pid <= 0 {
		return fmt.Errorf("cgroup delegation hook: container state has no pid")
	}
	if !cgroup2() {
		return nil // cgroup v1 (or none): nothing is delegated
	}
	if err := delegatePid(st.Pid, int(uid), int(gid)); err != nil {
		return fmt.Errorf("cgroup delegation hook: %w", err)
	}
	return nil
}

// delegatePid delegates the cgroup that process pid (a container's init)
// is in.
func delegatePid(pid, uid, gid int) error {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return err
	}
	defer f.Close()
	path, err := unifiedPath(f)
	if err != nil {
		return fmt.Errorf("process %d: %w", pid, err)
	}
	return delegate(filepath.Join(cgroupRoot, path), uid, gid)
}

// cgroup2 reports whether the VM's cgroups are the unified (v2) hierarchy.
func cgroup2() bool {
	var fs unix.Statfs_t
	return unix.Statfs(cgroupRoot, &fs) == nil && fs.Type == unix.CGROUP2_SUPER_MAGIC
}

// unifiedPath returns the cgroup v2 path ("0::/path") of a
// /proc/PID/cgroup listing. The VM's own root cgroup is never delegated.
func unifiedPath(r io.Reader) (string, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "0::"); ok {
			p = filepath.Clean(p)
			if !filepath.IsAbs(p) || p == "/" || strings.Contains(p, "/..") {
				return "", fmt.Errorf("cgroup %q: not a container's own cgroup", p)
			}
			return p, nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", errors.New("no cgroup v2 entry")
}

// delegate chowns the cgroup directory dir and its delegated files.
func delegate(dir string, uid, gid int) error {
	for _, p := range append([]string{""}, delegatedFiles...) {
		if err := unix.Fchownat(unix.AT_FDCWD, filepath.Join(dir, p), uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if p == "cgroup.threads" && errors.Is(err, unix.ENOENT) {
				continue // older kernels
			}
			return fmt.Errorf("delegating cgroup %s: %w", dir, err)
		}
	}
	return nil
}
