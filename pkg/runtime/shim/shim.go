package shim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hardenvm/hardenvm/boot/bootparams"
	"github.com/hardenvm/hardenvm/internal/atomicfile"
	"github.com/hardenvm/hardenvm/pkg/runtime"
	"github.com/hardenvm/hardenvm/pkg/runtime/mountguard"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Defaults, each overridable by a global flag or an environment variable
// (the engine passes both on to the runtime).
const (
	DefaultRuntime  = "/usr/sbin/runc"
	DefaultSettings = "/etc/hardenvm/runtime.json"
	DefaultState    = "/run/hardenvm-runc"

	EnvRuntime  = "HARDENVM_REAL_RUNTIME"
	EnvSettings = "HARDENVM_RUNTIME_SETTINGS"
	EnvState    = "HARDENVM_RUNTIME_STATE"
)

// AnnotationRootfs records in the hardened config how rootfs ownership
// was handled ("idmap" or "chown").
const AnnotationRootfs = "org.hardenvm.rootfs-ownership"

// Main runs the shim with os.Args-style argv and returns the exit code.
// Commands other than create and run do not return: the real runtime
// replaces the process.
func Main(argv []string) int {
	if len(argv) > 1 && argv[1] == holdArg {
		return hold()
	}
	if len(argv) > 1 && argv[1] == guardArg {
		return guardMain(argv[2:])
	}
	if len(argv) > 1 && argv[1] == delegateArg {
		if err := delegateHook(argv[2:], os.Stdin); err != nil {
			fmt.Fprintln(os.Stderr, "hardenvm: "+err.Error())
			return 1
		}
		return 0
	}
	c, err := parseCmdline(argv[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "hardenvm-runc: "+err.Error())
		return 2
	}
	real := pick(c.global[flagRuntime], os.Getenv(EnvRuntime))
	if real == "" {
		real = defaultRuntime()
	}
	if err := notSelf(real); err != nil {
		report(c, err)
		return 1
	}
	switch c.command {
	case "create", "run":
		return createOrRun(c, real)
	case "delete":
		// Run it as a child: the prepared mounts go only once the
		// container is gone.
		code := runChild(real, c)
		if id := lastArg(c.cmdArgs); validID(id) {
			if _, err := os.Stat(filepath.Join(pick(c.global["root"], "/run/runc"), id)); os.IsNotExist(err) {
				cleanStale(filepath.Join(stateDir(c), id))
			}
		}
		return code
	}
	err = syscall.Exec(real, append([]string{real}, c.args...), os.Environ())
	report(c, fmt.Errorf("exec %s: %w", real, err))
	return 1
}

func pick(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func lastArg(a []string) string {
	if len(a) == 0 {
		return ""
	}
	return a[len(a)-1]
}

func stateDir(c *cmdline) string {
	return pick(c.global[flagState], os.Getenv(EnvState), DefaultState)
}

// DefaultRuntimes are tried in order when neither the flag nor the
// environment names the real runtime: the image installs the real runc in
// libexec and the shim as /usr/sbin/runc (so that dockerd's reserved
// "runc" name ends at the shim, which cannot be given flags there).
var DefaultRuntimes = []string{"/usr/libexec/hardenvm/runc", DefaultRuntime, "/usr/bin/runc"}

func defaultRuntime() string {
	for _, p := range DefaultRuntimes {
		if _, err := os.Stat(p); err == nil && notSelf(p) == nil {
			return p
		}
	}
	return DefaultRuntime
}

// notSelf refuses a real runtime that is this very binary: the image
// installs the shim under the name runc, and exec'ing it again would loop.
func notSelf(real string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	a, err1 := statID(self)
	b, err2 := statID(real)
	if err2 != nil {
		return fmt.Errorf("real runtime %s: %w (set --%s or %s)", real, err2, flagRuntime, EnvRuntime)
	}
	if err1 == nil && a == b {
		return fmt.Errorf("real runtime %s is this shim itself (set --%s or %s to the real runc)", real, flagRuntime, EnvRuntime)
	}
	return nil
}

func loadSettings(c *cmdline) (runtime.Settings, error) {
	p := pick(c.global[flagSettings], os.Getenv(EnvSettings))
	if p == "" {
		if _, err := os.Stat(DefaultSettings); err != nil {
			return runtime.Default(), nil
		}
		p = DefaultSettings
	}
	return runtime.LoadSettings(p)
}

func createOrRun(c *cmdline, real string) int {
	start := time.Now()
	m, deleg, err := harden(c)
	if err != nil {
		report(c, err)
		return 1
	}
	code := runChild(real, c)
	if code == 0 && deleg != nil {
		if err := delegateCreated(c.pidFile, *deleg); err != nil {
			runChild(real, c.deleteCmd())
			report(c, fmt.Errorf("hardenvm: %w", err))
			code = 1
		}
	}
	// The host-side clones stay while the container exists: runc starts
	// every `exec` from the rootfs path. `delete` (or a failed create, or
	// the end of a foreground run) detaches them.
	if code != 0 || (c.command == "run" && !c.detach) {
		m.release()
	}
	logf(c, "info", "hardenvm: %s %s done in %s (exit %d)", c.command, c.id, time.Since(start).Round(time.Microsecond), code)
	return code
}

// harden rewrites the bundle's config.json and prepares its mounts; a
// non-nil owner is the container root's, to delegate its cgroup to once
// the container is created (see delegation).
func harden(c *cmdline) (*mounts, *owner, error) {
	set, err := loadSettings(c)
	if err != nil {
		return nil, nil, err
	}
	bundle, err := filepath.Abs(c.bundle)
	if err != nil {
		return nil, nil, err
	}
	path := filepath.Join(bundle, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("bundle: %w", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	spec, err := runtime.ParseConfig(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	restoreSources(spec, stateDir(c))
	mountguard.RemoveRules(spec, stateDir(c))
	env, err := hostEnv(c.id)
	if err != nil {
		return nil, nil, err
	}
	if set.HostPaths {
		if env.Shares, err = sharedDirs(bootparams.SharesState); err != nil {
			return nil, nil, err
		}
		env.OnRoot = onRootFS
	}
	if env.IDBase, err = allocateRange(set, c.id, containerExists(set.DockerRoot, pick(c.global["root"], "/run/runc"))); err != nil {
		return nil, nil, err
	}
	env.UserNamespaceBase = userNamespaceBase
	env.LXCFS = lxcfsFiles(set.LXCFS)
	if img, err := dockerImage(set.DockerRoot, c.id); err == nil {
		env.Image = img
	}
	res, err := runtime.Harden(spec, env, set)
	if err != nil {
		return nil, nil, err
	}
	for _, ch := range res.Changes {
		logf(c, "info", "hardenvm: %s: %s", c.id, ch.What)
	}
	out := res.Spec
	recordSources(out)
	self, err := os.Executable()
	if err != nil {
		return nil, nil, fmt.Errorf("hardenvm: the shim's own path: %w", err)
	}
	deleg := delegation(c, out, self)
	base, _, ok := rootIDs(out)
	if !ok {
		return nil, nil, fmt.Errorf("hardenvm: BUG: the hardened config maps no uid 0")
	}
	m, err := prepareMounts(out, bundle, filepath.Join(stateDir(c), c.id), set.RootfsOwnership, base, set.UIDSize)
	if err != nil {
		return nil, nil, fmt.Errorf("hardenvm: preparing mounts: %w", err)
	}
	if out.Annotations == nil {
		out.Annotations = map[string]string{}
	}
	out.Annotations[AnnotationRootfs] = m.method
	logf(c, "info", "hardenvm: %s: rootfs ownership by %s", c.id, m.method)
	if set.MountGuard == "on" && mountguard.AddRules(out, guardSocket(m.dir)) {
		if m.guard, err = startGuard(guardSocket(m.dir), c); err != nil {
			m.release()
			return nil, nil, fmt.Errorf("hardenvm: %w", err)
		}
		logf(c, "info", "hardenvm: %s: mount guard pid %d", c.id, m.guard.Pid)
	}
	b, err := json.Marshal(out)
	if err == nil {
		err = atomicfile.WriteFile(path, b, fi.Mode().Perm())
	}
	if err != nil {
		m.release()
		return nil, nil, fmt.Errorf("hardenvm: writing %s: %w", path, err)
	}
	return m, deleg, nil
}

// runChild runs the real runtime with the same arguments and stdio (and
// the fds that --preserve-fds or LISTEN_FDS hand on), forwarding signals,
// and returns its exit code.
func runChild(real string, c *cmdline) int {
	cmd := exec.Command(real, c.args...)
	cmd.Args[0] = real
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	extra := c.preserveFDs
	if n, err := strconv.Atoi(os.Getenv("LISTEN_FDS")); err == nil && n > 0 {
		extra += n
	}
	for fd := 3; fd < 3+extra; fd++ {
		cmd.ExtraFiles = append(cmd.ExtraFiles, os.NewFile(uintptr(fd), "fd"+strconv.Itoa(fd)))
	}
	sigs := make(chan os.Signal, 32)
	signal.Notify(sigs)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		report(c, fmt.Errorf("starting %s: %w", real, err))
		return 1
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				if s != syscall.SIGCHLD && s != syscall.SIGURG {
					cmd.Process.Signal(s)
				}
			case <-done:
				return
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	report(c, err)
	return 1
}

// report prints err as the one line that reaches the user: on stderr, and
// in runc's log file, where containerd looks for the runtime's last error.
func report(c *cmdline, err error) {
	msg := err.Error()
	if !runtime.IsRefusal(err) && (len(msg) < 9 || msg[:9] != "hardenvm:") {
		msg = "hardenvm: " + msg
	}
	fmt.Fprintln(os.Stderr, msg)
	logf(c, "error", "%s", msg)
}

// logf appends a line to runc's --log file in its --log-format.
func logf(c *cmdline, level, format string, args ...any) {
	path := c.global["log"]
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	msg := fmt.Sprintf(format, args...)
	now := time.Now().UTC().Format(time.RFC3339Nano)
	if c.global["log-format"] == "json" {
		b, _ := json.Marshal(map[string]string{"level": level, "msg": msg, "time": now})
		f.Write(append(b, '\n'))
		return
	}
	io.WriteString(f, fmt.Sprintf("time=%q level=%s msg=%q\n", now, level, msg))
}

// Annotations keeping the paths the shim replaces with its prepared
// clones, so that a bundle created twice (runc allows it; a failed start
// retried) is hardened from the engine's paths again, not from clones that
// are gone. Restored paths go through the policy like any other.
const annotationSource = "org.hardenvm.source."

func recordSources(spec *specs.Spec) {
	if spec.Annotations == nil {
		spec.Annotations = map[string]string{}
	}
	spec.Annotations[annotationSource+"root"] = spec.Root.Path
	for i, m := range spec.Mounts {
		if isBind(&m) {
			spec.Annotations[annotationSource+"mount."+strconv.Itoa(i)] = m.Source
			if slicesContains(m.Options, "ro") {
				// prepareMounts drops "ro" once the source is read-only.
				spec.Annotations[annotationSource+"mount."+strconv.Itoa(i)+".ro"] = "true"
			}
		}
	}
}

func restoreSources(spec *specs.Spec, state string) {
	inState := func(p string) bool { return strings.HasPrefix(p, state+"/") }
	if v, ok := spec.Annotations[annotationSource+"root"]; ok && inState(spec.Root.Path) {
		spec.Root.Path = v
	}
	for i := range spec.Mounts {
		if v, ok := spec.Annotations[annotationSource+"mount."+strconv.Itoa(i)]; ok && inState(spec.Mounts[i].Source) {
			spec.Mounts[i].Source = v
			if spec.Annotations[annotationSource+"mount."+strconv.Itoa(i)+".ro"] == "true" && !slicesContains(spec.Mounts[i].Options, "ro") {
				spec.Mounts[i].Options = append(spec.Mounts[i].Options, "ro")
			}
		}
	}
}
