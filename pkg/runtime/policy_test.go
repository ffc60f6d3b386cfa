package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// allCaps is this machine's bounding set shape: everything but CAP_SYS_RESOURCE.
var testCaps = func() []string {
	var cs []string
	for _, c := range strings.Fields(`CAP_CHOWN CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH CAP_FOWNER CAP_FSETID
		CAP_KILL CAP_SETGID CAP_SETUID CAP_SETPCAP CAP_LINUX_IMMUTABLE CAP_NET_BIND_SERVICE
		CAP_NET_BROADCAST CAP_NET_ADMIN CAP_NET_RAW CAP_IPC_LOCK CAP_IPC_OWNER CAP_SYS_MODULE
		CAP_SYS_RAWIO CAP_SYS_CHROOT CAP_SYS_PTRACE CAP_SYS_PACCT CAP_SYS_ADMIN CAP_SYS_BOOT
		CAP_SYS_NICE CAP_SYS_TIME CAP_SYS_TTY_CONFIG CAP_MKNOD CAP_LEASE CAP_AUDIT_WRITE
		CAP_AUDIT_CONTROL CAP_SETFCAP CAP_MAC_OVERRIDE CAP_MAC_ADMIN CAP_SYSLOG CAP_WAKE_ALARM
		CAP_BLOCK_SUSPEND CAP_AUDIT_READ CAP_PERFMON CAP_BPF CAP_CHECKPOINT_RESTORE`) {
		cs = append(cs, c)
	}
	return cs
}()

// testEnv is a VM whose /var/run links to /run, with a share directory
// holding a symlink to /etc/docker.
func testEnv(id string) Env {
	links := map[string]string{
		"/var/run":                      "/run",
		"/srv/share/link-to-etc-docker": "/etc/docker",
		"/srv/share/rel-link":           "../../etc/./docker",
	}
	nss := map[string]FileID{
		"/var/run/docker/netns/default": {Dev: 4, Ino: 4026531840},
		"/run/docker/netns/default":     {Dev: 4, Ino: 4026531840},
		"/proc/4242/ns/net":             {Dev: 4, Ino: 4026532999},
		"/proc/4242/ns/user":            {Dev: 4, Ino: 4026532998},
		"/proc/7/ns/net":                {Dev: 4, Ino: 4026532997},
		"/proc/7/ns/user":               {Dev: 4, Ino: 4026531837},
	}
	return Env{
		ContainerID:    id,
		HostNamespaces: map[string]FileID{"net": {Dev: 4, Ino: 4026531840}, "pid": {Dev: 4, Ino: 4026531836}, "user": {Dev: 4, Ino: 4026531837}},
		StatNamespace: func(p string) (FileID, error) {
			if id, ok := nss[p]; ok {
				return id, nil
			}
			return FileID{}, fmt.Errorf("stat %s: no such file", p)
		},
		Resolve: Resolver(func(p string) (string, bool, error) {
			t, ok := links[p]
			return t, ok, nil
		}),
		Capabilities: testCaps,
	}
}

func loadConfig(t *testing.T, name string) *specs.Spec {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "docker", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseConfig(data)
	if err != nil {
		t.Fatalf("ParseConfig(%s): %v", name, err)
	}
	return s
}

// containerID is the engine's ID, read back from the hostname bind mount
// that Docker put into the config.
func containerID(s *specs.Spec) string {
	for _, m := range s.Mounts {
		if strings.HasSuffix(m.Source, "/hostname") {
			return filepath.Base(filepath.Dir(m.Source))
		}
	}
	return ""
}

var allowed = &Image{
	ID:          "sha256:1111111111111111111111111111111111111111111111111111111111111111",
	RepoDigests: []string{"docker/desktop-socket-tool@sha256:2222222222222222222222222222222222222222222222222222222222222222"},
	RepoTags:    []string{"docker/desktop-socket-tool:1.0"},
}

func TestHardenDockerConfigs(t *testing.T) {
	tests := []struct {
		config   string
		image    *Image
		settings func(*Settings)
		env      func(*Env)
		want     string // the refusal line, or "" for a hardened config
		check    func(t *testing.T, in, out *specs.Spec)
	}{
		{config: "plain", check: checkPlain},
		{config: "userns-host", check: checkPlain},
		{config: "privileged", check: checkPrivileged},
		{config: "cap-add-all", check: func(t *testing.T, in, out *specs.Spec) {
			checkPlain(t, in, out)
			if slices.Contains(out.Process.Capabilities.Bounding, "CAP_SYS_RESOURCE") {
				t.Errorf("CAP_SYS_RESOURCE kept although the runtime lacks it")
			}
			if !slices.Contains(out.Process.Capabilities.Bounding, "CAP_SYS_ADMIN") {
				t.Errorf("CAP_SYS_ADMIN dropped although the runtime holds it")
			}
		}},
		{config: "pid-host", want: "hardenvm: sharing the host's pid namespace is not allowed by the admin policy (enhancedContainerIsolation)"},
		{config: "ipc-host", want: "hardenvm: sharing the host's ipc namespace is not allowed by the admin policy (enhancedContainerIsolation)"},
		{config: "uts-host", want: "hardenvm: sharing the host's uts namespace is not allowed by the admin policy (enhancedContainerIsolation)"},
		{config: "network-host", want: "hardenvm: sharing the host's net namespace (/var/run/docker/netns/default) is not allowed by the admin policy (enhancedContainerIsolation)"},
		{config: "handmade-network-container", check: func(t *testing.T, in, out *specs.Spec) {
			checkPlain(t, in, out)
			if i := slices.IndexFunc(out.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == specs.UserNamespace }); out.Linux.Namespaces[i].Path != "/proc/4242/ns/user" {
				t.Errorf("joining container 4242's netns but not its user namespace: %+v", out.Linux.Namespaces[i])
			}
		}},
		// A namespace of a process in the host's user namespace: a fresh
		// user namespace, never the host's.
		{config: "handmade-network-container", env: func(e *Env) {
			st := e.StatNamespace
			e.StatNamespace = func(p string) (FileID, error) { return st(strings.Replace(p, "4242", "7", 1)) }
		}, check: func(t *testing.T, in, out *specs.Spec) {
			checkPlain(t, in, out)
			if i := slices.IndexFunc(out.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == specs.UserNamespace }); out.Linux.Namespaces[i].Path != "" {
				t.Errorf("joined %s: the host's user namespace", out.Linux.Namespaces[i].Path)
			}
		}},
		{config: "etc-docker", want: "hardenvm: bind mount of the protected VM path /etc/docker is not allowed by the admin policy (enhancedContainerIsolation)"},
		{config: "dotdot-src", want: "hardenvm: bind mount of the protected VM path /etc/docker is not allowed by the admin policy (enhancedContainerIsolation)"},
		{config: "handmade-dotdot-raw", want: "hardenvm: bind mount of the protected VM path /etc/docker (via /srv/share/a/b/../../../../etc/docker) is not allowed by the admin policy (enhancedContainerIsolation)"},
		{config: "symlink-src", want: "hardenvm: bind mount of the protected VM path /etc/docker (via /srv/share/link-to-etc-docker) is not allowed by the admin policy (enhancedContainerIsolation)"},
		{config: "handmade-root-bind", want: "hardenvm: bind mount of / (it holds the engine socket) is not allowed by the admin policy (enhancedContainerIsolation)"},
		{config: "docker-sock", want: "hardenvm: mounting the engine socket /run/docker.sock (via /var/run/docker.sock) into this image is not allowed by the admin policy (enhancedContainerIsolation.dockerSocketMount.imageList)"},
		{config: "docker-sock", image: allowed, settings: func(s *Settings) { s.SocketImages = []string{"docker/desktop-socket-tool:*"} }, check: checkPlain},
		{config: "docker-sock", image: &Image{ID: "sha256:3333", RepoTags: []string{"docker/desktop-socket-tool:1.0"}},
			settings: func(s *Settings) { s.SocketImages = []string{"docker/desktop-socket-tool:1.0"} },
			want:     "hardenvm: mounting the engine socket /run/docker.sock (via /var/run/docker.sock) into this image is not allowed by the admin policy (enhancedContainerIsolation.dockerSocketMount.imageList)"},
		{config: "device-vda", want: "hardenvm: access to the host device /dev/vda (b 254:0) is not allowed by the admin policy (enhancedContainerIsolation)"},
		{config: "handmade-volume", check: checkPlain},
		{config: "plain", settings: func(s *Settings) { s.UIDSize = 1000 }, want: "runtime settings: uidSize 1000: want at least 65536"},
	}
	for _, tt := range tests {
		name := tt.config
		if tt.image != nil {
			name += "/image-" + tt.image.ID[:11]
		}
		t.Run(name, func(t *testing.T) {
			in := loadConfig(t, tt.config)
			orig := loadConfig(t, tt.config)
			env := testEnv(containerID(in))
			env.Image = tt.image
			if tt.env != nil {
				tt.env(&env)
			}
			s := Default()
			if tt.settings != nil {
				tt.settings(&s)
			}
			res, err := Harden(in, env, s)
			if diff := cmp.Diff(orig, in); diff != "" {
				t.Fatalf("Harden modified its input (-before +after):\n%s", diff)
			}
			if tt.want != "" {
				if err == nil {
					t.Fatalf("Harden(%s) succeeded, want %q", tt.config, tt.want)
				}
				if err.Error() != tt.want {
					t.Fatalf("Harden(%s) error:\n got %q\nwant %q", tt.config, err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("Harden(%s): %v", tt.config, err)
			}
			tt.check(t, in, res.Spec)
			for _, c := range res.Changes {
				t.Logf("change: %s", c.What)
			}
			// Hardening is idempotent: the shim may see a config twice.
			again, err := Harden(res.Spec, env, s)
			if err != nil {
				t.Fatalf("Harden(Harden(%s)): %v", tt.config, err)
			}
			if diff := cmp.Diff(res.Spec, again.Spec); diff != "" {
				t.Errorf("Harden is not idempotent (-once +twice):\n%s", diff)
			}
		})
	}
}

func checkUserNS(t *testing.T, out *specs.Spec) {
	t.Helper()
	n := 0
	for _, ns := range out.Linux.Namespaces {
		if ns.Type == specs.UserNamespace {
			n++
			if ns.Path != "" && !procNS.MatchString(ns.Path) {
				t.Errorf("user namespace joins %s, want a new one or another container's", ns.Path)
			}
		}
	}
	if n != 1 {
		t.Errorf("%d user namespaces, want 1", n)
	}
	want := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	if diff := cmp.Diff(want, out.Linux.UIDMappings); diff != "" {
		t.Errorf("uid mappings (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, out.Linux.GIDMappings); diff != "" {
		t.Errorf("gid mappings (-want +got):\n%s", diff)
	}
	if !slices.ContainsFunc(out.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == specs.CgroupNamespace && n.Path == "" }) {
		t.Errorf("no cgroup namespace of its own")
	}
}

func checkSysctl(t *testing.T, out *specs.Spec) {
	t.Helper()
	if v, ok := out.Linux.Sysctl["net.ipv4.ping_group_range"]; ok && v != "0 65535" {
		t.Errorf("ping_group_range %q names unmapped groups, want \"0 65535\"", v)
	}
}

func checkPaths(t *testing.T, out *specs.Spec) {
	t.Helper()
	checkPathsExcept(t, out, "")
}

// checkPathsExcept checks the masked and read-only paths, but for rw.
func checkPathsExcept(t *testing.T, out *specs.Spec, rw string) {
	t.Helper()
	for _, p := range []string{"/proc/kcore", "/proc/keys", "/sys/firmware", "/proc/timer_list"} {
		if !slices.Contains(out.Linux.MaskedPaths, p) {
			t.Errorf("%s not masked", p)
		}
	}
	for _, p := range []string{"/proc/sys", "/proc/sysrq-trigger", "/proc/bus"} {
		if !slices.Contains(out.Linux.ReadonlyPaths, p) && p != rw {
			t.Errorf("%s not read-only", p)
		}
	}
}

func checkPlain(t *testing.T, in, out *specs.Spec) {
	t.Helper()
	checkUserNS(t, out)
	checkSysctl(t, out)
	checkPaths(t, out)
	// Unchanged, not only kept: a plain container's every system call
	// goes through the engine's filter, and a rule added here would be
	// evaluated on each of them (under TCG, per BPF instruction).
	if diff := cmp.Diff(in.Linux.Seccomp, out.Linux.Seccomp); out.Linux.Seccomp == nil || diff != "" {
		t.Errorf("the engine's seccomp profile was not kept as it was (-in +out):\n%s", diff)
	}
	if slices.ContainsFunc(out.Linux.Resources.Devices, allowsAll) {
		t.Errorf("device rules allow everything")
	}
	if diff := cmp.Diff(in.Root, out.Root); diff != "" {
		t.Errorf("root changed (-in +out):\n%s", diff)
	}
}

func checkPrivileged(t *testing.T, in, out *specs.Spec) {
	t.Helper()
	checkUserNS(t, out)
	checkSysctl(t, out)
	checkPathsExcept(t, out, "/proc/sys")
	if len(in.Linux.Devices) < 10 {
		t.Fatalf("test config has %d devices: not a --privileged config", len(in.Linux.Devices))
	}
	for _, d := range out.Linux.Devices {
		if _, ok := safeDevices[devNum{d.Type, d.Major, d.Minor}]; !ok {
			t.Errorf("host device %s (%s %d:%d) kept", d.Path, d.Type, d.Major, d.Minor)
		}
	}
	rules := out.Linux.Resources.Devices
	if len(rules) == 0 || rules[0].Allow || rules[0].Access != "rwm" || rules[0].Major != nil {
		t.Errorf("device rules do not start with deny-all: %+v", rules)
	}
	for _, r := range rules {
		if allowsAll(r) || (r.Allow && (r.Major == nil || r.Minor == nil)) {
			t.Errorf("wildcard device rule kept: %+v", r)
		}
	}
	sc := out.Linux.Seccomp
	if sc == nil {
		t.Fatal("no seccomp profile")
	}
	var refused []string
	for _, s := range sc.Syscalls {
		if s.Action == specs.ActErrno {
			refused = append(refused, s.Names...)
		}
	}
	for _, want := range []string{"init_module", "finit_module", "open_by_handle_at", "kexec_load", "bpf"} {
		if !slices.Contains(refused, want) {
			t.Errorf("seccomp does not refuse %s", want)
		}
	}
	for _, keep := range []string{"mount", "unshare", "clone"} {
		if slices.Contains(refused, keep) {
			t.Errorf("seccomp refuses %s, which privileged containers need", keep)
		}
	}
	if slices.Contains(out.Process.Capabilities.Bounding, "CAP_SYS_RESOURCE") {
		t.Errorf("CAP_SYS_RESOURCE kept although the runtime lacks it")
	}
	if !slices.Contains(out.Process.Capabilities.Bounding, "CAP_SYS_ADMIN") {
		t.Errorf("CAP_SYS_ADMIN dropped: privileged must still work inside")
	}
}

func TestResolver(t *testing.T) {
	links := map[string]string{
		"/a/link":   "/etc/docker",
		"/a/rel":    "../b/c",
		"/a/up":     "..",
		"/loop":     "/loop",
		"/a/deep/x": "/a/link",
		"/var/run":  "/run",
	}
	r := Resolver(func(p string) (string, bool, error) { t, ok := links[p]; return t, ok, nil })
	tests := []struct{ in, want, err string }{
		{in: "/etc/docker", want: "/etc/docker"},
		{in: "/a/link", want: "/etc/docker"},
		{in: "/a/link/../x", want: "/etc/x"}, // ".." after a link goes up from the target
		{in: "/a/rel", want: "/b/c"},
		{in: "/a/up/etc/docker", want: "/etc/docker"},
		{in: "/x/../../../etc/docker", want: "/etc/docker"},
		{in: "/a/deep/x/key.json", want: "/etc/docker/key.json"},
		{in: "/var/run/docker.sock", want: "/run/docker.sock"},
		{in: "/loop", err: "too many levels of symbolic links"},
		{in: "rel/path", err: "not an absolute path"},
	}
	for _, tt := range tests {
		got, err := r(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("resolve(%q) = %q, %v; want error %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("resolve(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestImageAllowed(t *testing.T) {
	alpine := &Image{
		ID:          "sha256:aaaa",
		RepoDigests: []string{"alpine@sha256:bbbb"},
		RepoTags:    []string{"alpine:3.20"},
	}
	retagged := &Image{ID: "sha256:evil", RepoTags: []string{"alpine:3.20"}}
	tests := []struct {
		entry string
		img   *Image
		want  bool
	}{
		{"*", alpine, true},
		{"alpine", alpine, true},
		{"docker.io/library/alpine:*", alpine, true},
		{"alpine:3.20", alpine, true},
		{"alpine:3.19", alpine, false},
		{"alpine@sha256:bbbb", alpine, true},
		{"alpine@sha256:cccc", alpine, false},
		{"sha256:aaaa", alpine, true},
		{"alpine", retagged, false},
		{"alpine:3.20", retagged, false},
		{"busybox", alpine, false},
		{"alpine", nil, false},
	}
	for _, tt := range tests {
		if got := ImageAllowed([]string{tt.entry}, tt.img); got != tt.want {
			t.Errorf("ImageAllowed(%q, %+v) = %v, want %v", tt.entry, tt.img, got, tt.want)
		}
	}
}

func TestNormalizeName(t *testing.T) {
	for in, want := range map[string]string{
		"alpine":                    "docker.io/library/alpine",
		"me/app":                    "docker.io/me/app",
		"index.docker.io/alpine":    "docker.io/library/alpine",
		"ghcr.io/o/r":               "ghcr.io/o/r",
		"localhost:5000/x":          "localhost:5000/x",
		"registry.example:5000/a/b": "registry.example:5000/a/b",
	} {
		if got := NormalizeName(in); got != want {
			t.Errorf("NormalizeName(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"alpine": "docker.io", "ghcr.io/o/r:1": "ghcr.io", "localhost:5000/x@sha256:aa": "localhost:5000"} {
		if got := RegistryOf(in); got != want {
			t.Errorf("RegistryOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEngineOwned(t *testing.T) {
	root := "/var/lib/docker"
	for _, tt := range []struct {
		src  string
		want bool
	}{
		{"/var/lib/docker/containers/me/hostname", true},
		{"/var/lib/docker/containers/me/config.v2.json", true},
		{"/var/lib/docker/containers/other/resolv.conf", true},
		{"/var/lib/docker/containers/other/mounts/shm", true},
		{"/var/lib/docker/containers/other/config.v2.json", false},
		{"/var/lib/docker/containers/other", false},
		{"/var/lib/docker/volumes/v/_data", true},
		{"/var/lib/docker/volumes/v/_data/sub", true},
		{"/var/lib/docker/volumes/v", false},
		{"/var/lib/docker/overlay2/x/merged", false},
		{"/var/lib/docker", false},
	} {
		if got := engineOwned(tt.src, root, "me"); got != tt.want {
			t.Errorf("engineOwned(%s) = %v, want %v", tt.src, got, tt.want)
		}
	}
}

// TestHostPathBinds: in a VM that shares host directories, a bind source
// inside a share or on the VM's root file system is allowed, any other
// (a host path the user did not share, which the engine would create
// empty in the VM) is refused naming filesharingAllowedDirectories; the
// protected VM paths stay refused as before, even inside a share's path.
func TestHostPathBinds(t *testing.T) {
	onRoot := map[string]bool{"/usr/share/zoneinfo": true, "/etc/localtime": true}
	tests := []struct {
		src       string
		hostPaths bool
		want      string
	}{
		{"/home/alice/src", true, ""},
		{"/home/alice/src/sub/dir", true, ""},
		{"/tmp/TestX/001", true, ""},
		{"/usr/share/zoneinfo", true, ""},
		{"/home/alice/other", true, "hardenvm: bind mount of /home/alice/other, a host path that is not shared with the VM (hardenvm run --share), is not allowed by the admin policy (filesharingAllowedDirectories)"},
		{"/home/alice", true, "filesharingAllowedDirectories"},
		{"/tmp", true, "filesharingAllowedDirectories"},
		{"/home/alice/src/../other", true, "filesharingAllowedDirectories"},
		{"/etc/docker", true, "(enhancedContainerIsolation)"},
		{"/var/lib/docker/volumes/v/_data", true, ""},
		// Without the rule (the runtime outside a sharing VM) as before.
		{"/home/alice/other", false, ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%v", tt.src, tt.hostPaths), func(t *testing.T) {
			in := loadConfig(t, "plain")
			in.Mounts = append(in.Mounts, specs.Mount{Destination: "/src", Type: "bind", Source: tt.src, Options: []string{"rbind", "rprivate"}})
			env := testEnv(containerID(in))
			env.Shares = []string{"/home/alice/src", "/tmp/TestX/001"}
			env.OnRoot = func(p string) (bool, error) { return onRoot[p], nil }
			s := Default()
			s.HostPaths = tt.hostPaths
			_, err := Harden(in, env, s)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Harden(bind %s) = %v, want it allowed", tt.src, err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Harden(bind %s) = %v, want %q", tt.src, err, tt.want)
			case err != nil && !IsRefusal(err):
				t.Errorf("Harden(bind %s) = %v, not a policy refusal", tt.src, err)
			}
		})
	}
}

func TestLXCFS(t *testing.T) {
	spec := &specs.Spec{
		Root:   &specs.Root{Path: "rootfs"},
		Mounts: []specs.Mount{{Destination: "/proc", Type: "proc", Source: "proc"}, {Destination: "/proc/uptime", Type: "bind", Source: "/tmp/mine", Options: []string{"bind"}}},
		Linux:  &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: "mount"}, {Type: "pid"}, {Type: "ipc"}, {Type: "uts"}, {Type: "network"}}},
	}
	res, err := Harden(spec, Env{LXCFS: []string{"proc/meminfo", "proc/uptime", "sys/devices/system/cpu"}}, Default())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range res.Spec.Mounts {
		if strings.HasPrefix(m.Source, "/var/lib/lxcfs/") {
			got = append(got, m.Destination+"←"+m.Source)
		}
	}
	want := []string{"/proc/meminfo←/var/lib/lxcfs/proc/meminfo", "/sys/devices/system/cpu←/var/lib/lxcfs/sys/devices/system/cpu"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("LXCFS mounts (-want +got), the user's /proc/uptime kept:\n%s", diff)
	}
}

func TestPrivilegedProcSysWritable(t *testing.T) {
	for _, tt := range []struct {
		config string
		rw     bool
	}{{"plain", false}, {"privileged", true}} {
		res, err := Harden(loadConfig(t, tt.config), testEnv("c1"), Default())
		if err != nil {
			t.Fatal(err)
		}
		ro := slices.Contains(res.Spec.Linux.ReadonlyPaths, "/proc/sys")
		if ro == tt.rw {
			t.Errorf("%s: /proc/sys read-only %v, want %v", tt.config, ro, !tt.rw)
		}
		if !slices.Contains(res.Spec.Linux.ReadonlyPaths, "/proc/sysrq-trigger") {
			t.Errorf("%s: /proc/sysrq-trigger is not read-only", tt.config)
		}
	}
}

func TestNesting(t *testing.T) {
	s := Default()
	s.Nesting = true
	res, err := Harden(loadConfig(t, "plain"), testEnv("c1"), s)
	if err != nil {
		t.Fatal(err)
	}
	l := res.Spec.Linux
	if !slices.Contains(res.Spec.Process.Capabilities.Effective, "CAP_SYS_ADMIN") {
		t.Errorf("nesting: no CAP_SYS_ADMIN in %v", res.Spec.Process.Capabilities.Effective)
	}
	if l.Seccomp == nil || !slices.ContainsFunc(l.Seccomp.Syscalls, func(c specs.LinuxSyscall) bool { return slices.Contains(c.Names, "init_module") }) ||
		slices.ContainsFunc(l.Seccomp.Syscalls, func(c specs.LinuxSyscall) bool { return slices.Contains(c.Names, "mount") }) {
		t.Errorf("nesting: want the confined seccomp profile, got %+v", l.Seccomp)
	}
	for _, m := range res.Spec.Mounts {
		if (m.Destination == "/sys/fs/cgroup" || m.Destination == "/sys") && slices.Contains(m.Options, "ro") {
			t.Errorf("nesting: %s mount %v is read-only", m.Destination, m.Options)
		}
	}
	if slices.Contains(l.ReadonlyPaths, "/proc/sys") || !slices.Contains(l.ReadonlyPaths, "/proc/sysrq-trigger") {
		t.Errorf("nesting: read-only paths %v", l.ReadonlyPaths)
	}
	checkUserNS(t, res.Spec)
	// Off by default: the plain config keeps the engine's profile.
	plain, err := Harden(loadConfig(t, "plain"), testEnv("c1"), Default())
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(plain.Spec.Process.Capabilities.Effective, "CAP_SYS_ADMIN") {
		t.Errorf("without nesting: CAP_SYS_ADMIN granted")
	}
}
