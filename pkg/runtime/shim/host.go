package shim

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/hardenvm/hardenvm/boot/bootparams"
	"github.com/hardenvm/hardenvm/pkg/runtime"
)

// capNames are the Linux capabilities by bit number.
var capNames = strings.Fields(`CAP_CHOWN CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH CAP_FOWNER
	CAP_FSETID CAP_KILL CAP_SETGID CAP_SETUID CAP_SETPCAP CAP_LINUX_IMMUTABLE
	CAP_NET_BIND_SERVICE CAP_NET_BROADCAST CAP_NET_ADMIN CAP_NET_RAW CAP_IPC_LOCK
	CAP_IPC_OWNER CAP_SYS_MODULE CAP_SYS_RAWIO CAP_SYS_CHROOT CAP_SYS_PTRACE
	CAP_SYS_PACCT CAP_SYS_ADMIN CAP_SYS_BOOT CAP_SYS_NICE CAP_SYS_RESOURCE
	CAP_SYS_TIME CAP_SYS_TTY_CONFIG CAP_MKNOD CAP_LEASE CAP_AUDIT_WRITE
	CAP_AUDIT_CONTROL CAP_SETFCAP CAP_MAC_OVERRIDE CAP_MAC_ADMIN CAP_SYSLOG
	CAP_WAKE_ALARM CAP_BLOCK_SUSPEND CAP_AUDIT_READ CAP_PERFMON CAP_BPF
	CAP_CHECKPOINT_RESTORE`)

// heldCapabilities returns the capabilities in both this process's
// bounding and permitted sets: the most the real runtime can grant.
func heldCapabilities() ([]string, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var bnd, prm uint64
	var seen int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch k {
		case "CapBnd", "CapPrm":
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				return nil, fmt.Errorf("/proc/self/status %s: %w", k, err)
			}
			if k == "CapBnd" {
				bnd = n
			} else {
				prm = n
			}
			seen++
		}
	}
	if seen != 2 {
		return nil, fmt.Errorf("/proc/self/status: no CapBnd/CapPrm")
	}
	var caps []string
	for i, n := range capNames {
		if bnd&prm&(1<<i) != 0 {
			caps = append(caps, n)
		}
	}
	return caps, nil
}

func statID(path string) (runtime.FileID, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return runtime.FileID{}, fmt.Errorf("stat %s: %w", path, err)
	}
	return runtime.FileID{Dev: st.Dev, Ino: st.Ino}, nil
}

// sharedDirs reads the host directories the guest init mounted
// (bootparams.SharesState); none when it wrote no list.
func sharedDirs(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("shares: %w", err)
	}
	list, err := bootparams.ParseShares(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var dirs []string
	for _, s := range list.Shares {
		dirs = append(dirs, s.Path)
	}
	return dirs, nil
}

// onRootFS reports whether path is on the same file system as "/": in
// the VM, its verified read-only root.
func onRootFS(path string) (bool, error) {
	var root, st syscall.Stat_t
	if err := syscall.Stat("/", &root); err != nil {
		return false, fmt.Errorf("stat /: %w", err)
	}
	if err := syscall.Stat(path, &st); err != nil {
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ENOTDIR) {
			return false, nil
		}
		return false, fmt.Errorf("stat %s: %w", path, err)
	}
	return st.Dev == root.Dev, nil
}

// hostEnv describes the machine the shim runs on: its namespaces are the
// VM's own (the shim runs in the engine's namespaces), its capabilities
// the most it may grant.
func hostEnv(id string) (runtime.Env, error) {
	env := runtime.Env{
		ContainerID:    id,
		HostNamespaces: map[string]runtime.FileID{},
		StatNamespace:  statID,
		Resolve:        runtime.Resolver(runtime.HostLinks),
	}
	for _, n := range runtime.NamespaceNames() {
		if n == "cgroup" {
			continue
		}
		fid, err := statID("/proc/self/ns/" + n)
		if err != nil {
			return env, fmt.Errorf("host namespaces: %w", err)
		}
		env.HostNamespaces[n] = fid
	}
	caps, err := heldCapabilities()
	if err != nil {
		return env, fmt.Errorf("capabilities: %w", err)
	}
	env.Capabilities = caps
	return env, nil
}

// dockerImage looks up the image of a Docker container in the engine's
// own records under its data root: the image ID from the container's
// config.v2.json, and every reference (tags and pulled digests) pointing
// at that ID in repositories.json. These files are written by the engine
// as root; containers cannot change them.
func dockerImage(root, id string) (*runtime.Image, error) {
	b, err := os.ReadFile(filepath.Join(root, "containers", id, "config.v2.json"))
	if err != nil {
		return nil, err
	}
	var c struct{ Image string }
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("container %s config: %w", id, err)
	}
	if !strings.HasPrefix(c.Image, "sha256:") {
		return nil, fmt.Errorf("container %s: image ID %q is not a digest", id, c.Image)
	}
	img := &runtime.Image{ID: c.Image}
	repos, _ := filepath.Glob(filepath.Join(root, "image", "*", "repositories.json"))
	for _, p := range repos {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var r struct{ Repositories map[string]map[string]string }
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		for _, refs := range r.Repositories {
			for ref, imgID := range refs {
				if imgID != img.ID {
					continue
				}
				if strings.Contains(ref, "@") {
					img.RepoDigests = append(img.RepoDigests, ref)
				} else {
					img.RepoTags = append(img.RepoTags, ref)
				}
			}
		}
	}
	return img, nil
}

// lxcfsFiles returns the entries of runtime.LXCFSFiles that LXCFS serves
// at dir: none unless dir is a FUSE mount (LXCFS is running).
func lxcfsFiles(dir string) []string {
	if dir == "" {
		return nil
	}
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil || fs.Type != 0x65735546 { // FUSE_SUPER_MAGIC
		return nil
	}
	var out []string
	for _, rel := range runtime.LXCFSFiles {
		if _, err := os.Stat(filepath.Join(dir, rel)); err == nil {
			out = append(out, rel)
		}
	}
	return out
}
