package shim

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hardenvm/hardenvm/internal/atomicfile"
	"github.com/hardenvm/hardenvm/pkg/runtime"
	"golang.org/x/sys/unix"
)

// allocateRange gives container id its exclusive ID range from the pool
// (runtime.IDPool) kept in set.IDState, under an exclusive lock of the
// file's directory, and returns the range's first host ID. exists tells
// whether another container still exists (its range is kept).
func allocateRange(set runtime.Settings, id string, exists func(id string) bool) (uint32, error) {
	dir := filepath.Dir(set.IDState)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, fmt.Errorf("ID ranges: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return 0, fmt.Errorf("ID ranges: %w", err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return 0, fmt.Errorf("ID ranges: locking %s: %w", dir, err)
	}
	data, err := os.ReadFile(set.IDState)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("ID ranges: %w", err)
	}
	pool, err := runtime.ParseIDPool(data)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", set.IDState, err)
	}
	before, _ := pool.Marshal()
	i, err := pool.Allocate(id, set.IDRanges, exists)
	if errors.Is(err, runtime.ErrIDsExhausted) {
		return 0, fmt.Errorf("hardenvm: no free ID range for this container: all %d ranges of %d IDs (runtime setting idRanges) belong to existing containers; remove some (docker container prune)", set.IDRanges, set.UIDSize)
	}
	if err != nil {
		return 0, err
	}
	after, err := pool.Marshal()
	if err != nil {
		return 0, err
	}
	if string(after) != string(before) {
		if err := atomicfile.WriteFile(set.IDState, append(after, '\n'), 0o600); err != nil {
			return 0, fmt.Errorf("ID ranges: %w", err)
		}
	}
	return set.RangeBase(i), nil
}

// containerExists reports whether a container with id is known to the
// engine (its directory under the engine's data root) or to the real
// runtime (its state under runc's --root).
func containerExists(dockerRoot, runcRoot string) func(string) bool {
	return func(id string) bool {
		if !validID(id) {
			return false
		}
		for _, p := range []string{filepath.Join(dockerRoot, "containers", id), filepath.Join(runcRoot, id)} {
			if _, err := os.Stat(p); err == nil {
				return true
			}
		}
		return false
	}
}

// userNamespaceBase reads the host ID that uid 0 maps to in the user
// namespace at path (/proc/PID/ns/user), from /proc/PID/uid_map.
func userNamespaceBase(path string) (uint32, error) {
	dir, ok := strings.CutSuffix(path, "/ns/user")
	if !ok {
		return 0, fmt.Errorf("%s: not a /proc/PID/ns/user path", path)
	}
	f, err := os.Open(dir + "/uid_map")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var inside, host, size uint32
		if _, err := fmt.Sscan(sc.Text(), &inside, &host, &size); err == nil && inside == 0 && size > 0 {
			return host, nil
		}
	}
	return 0, fmt.Errorf("%s/uid_map: uid 0 is not mapped", dir)
}
