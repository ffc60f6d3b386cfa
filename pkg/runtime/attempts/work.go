package attempts

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func init() {
	register(Attempt{Name: "uid-map", Doc: "print /proc/self/uid_map", Run: uidMap})
	register(Attempt{Name: "mount-tmpfs", Doc: "mount a tmpfs, write to it, unmount it", Run: mountTmpfs})
	register(Attempt{Name: "nested-userns", Doc: "create a nested user namespace and become root in it", Run: nestedUserns})
	register(Attempt{Name: "chown-file", Doc: "ARGS: PATH UID: create PATH owned by UID:UID", Run: chownFile})
	register(Attempt{Name: "engine-ping", Doc: "ARGS: SOCKET: GET /_ping from the engine API over a unix socket", Run: enginePing})
	register(Attempt{Name: "owner-is", Doc: "ARGS: PATH UID: check PATH is owned by UID", Run: ownerIs})
	register(Attempt{Name: "release-agent-here", Doc: "(internal) release-agent without a new namespace", Escape: true, Internal: true,
		Run: func([]string) Result { return releaseAgentHere() }})
}

func uidMap(_ []string) Result {
	b, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return result(false, "%v", err)
	}
	return result(true, "%s", strings.Join(strings.Fields(string(b)), " "))
}

func mountTmpfs(_ []string) Result {
	dir, err := os.MkdirTemp("", "hardenvm-tmpfs-")
	if err != nil {
		return result(false, "%v", err)
	}
	defer os.Remove(dir)
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
		return result(false, "mount tmpfs: %v", err)
	}
	defer unix.Unmount(dir, 0)
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644); err != nil {
		return result(false, "write: %v", err)
	}
	return result(true, "mounted a tmpfs at %s and wrote to it", dir)
}

func nestedUserns(_ []string) Result {
	out, err := runChild([]string{"uid-map"}, false)
	if err != nil {
		return result(false, "%v", err)
	}
	var r Result
	if err := jsonUnmarshal(out, &r); err != nil || !r.OK {
		return result(false, "child: %s", out)
	}
	return result(true, "nested uid_map: %s", r.Detail)
}

func chownFile(args []string) Result {
	if len(args) != 2 {
		return result(false, "want PATH UID")
	}
	uid, err := strconv.Atoi(args[1])
	if err != nil {
		return result(false, "uid %q: %v", args[1], err)
	}
	if err := os.WriteFile(args[0], []byte("hardenvm\n"), 0o644); err != nil {
		return result(false, "%v", err)
	}
	if err := os.Chown(args[0], uid, uid); err != nil {
		return result(false, "%v", err)
	}
	return result(true, "%s owned by %d", args[0], uid)
}

func ownerIs(args []string) Result {
	if len(args) != 2 {
		return result(false, "want PATH UID")
	}
	var st unix.Stat_t
	if err := unix.Stat(args[0], &st); err != nil {
		return result(false, "%v", err)
	}
	return result(strconv.Itoa(int(st.Uid)) == args[1] && strconv.Itoa(int(st.Gid)) == args[1],
		"%s owned by %d:%d", args[0], st.Uid, st.Gid)
}

// runChild runs an attempt in a child of our own binary created in a new
// user namespace (uid 0 → our uid 0), and with mountCgroup also new mount
// and cgroup namespaces: `unshare -UrmC`.
func runChild(args []string, mountCgroup bool) ([]byte, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, append([]string{args[0]}, args[1:]...)...)
	flags := uintptr(syscall.CLONE_NEWUSER)
	if mountCgroup {
		flags |= syscall.CLONE_NEWNS | syscall.CLONE_NEWCGROUP
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  flags,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil && out.Len() == 0 {
		return nil, fmt.Errorf("%v: %s", err, strings.TrimSpace(errb.String()))
	}
	return out.Bytes(), nil
}

func jsonUnmarshal(b []byte, v any) error {
	return json.Unmarshal(bytes.TrimSpace(b), v)
}

func enginePing(args []string) Result {
	if len(args) != 1 {
		return result(false, "want SOCKET")
	}
	c, err := net.DialTimeout("unix", args[0], 5*time.Second)
	if err != nil {
		return result(false, "%v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n"); err != nil {
		return result(false, "%v", err)
	}
	b, _ := io.ReadAll(io.LimitReader(c, 4096))
	line, _, _ := strings.Cut(string(b), "\r\n")
	return result(strings.Contains(line, " 200 "), "%s", line)
}
