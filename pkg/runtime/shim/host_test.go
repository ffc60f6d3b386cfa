package shim

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Host integration tests: Docker-generated configs (../testdata/docker)
// run through the shim and the real runc on this machine.

func TestHostUserNamespace(t *testing.T) {
	h := newHarness(t)
	for _, config := range []string{"plain", "privileged", "userns-host"} {
		t.Run(config, func(t *testing.T) {
			r := h.attempt(t, config, nil, "uid-map")
			f := strings.Fields(r.Detail)
			if !r.OK || len(f) != 3 {
				t.Fatalf("uid_map: %+v", r)
			}
			inside, host, size := f[0], f[1], f[2]
			if inside != "0" || host == "0" || size != "65536" {
				t.Errorf("uid_map %q: want 0 → a non-root host range of 65536", r.Detail)
			}
			if n, _ := strconv.Atoi(host); n != int(h.settings.UIDBase) {
				t.Errorf("host range starts at %s, want %d", host, h.settings.UIDBase)
			}
		})
	}
}

// TestHostRootfsOwnership checks both ways of making the image's root-owned
// files the container's root's: the ID-mapped mount leaves the files on
// disk untouched, the chown fallback shifts them into the container range.
func TestHostRootfsOwnership(t *testing.T) {
	h := newHarness(t)
	for _, mode := range []string{"idmap", "chown"} {
		t.Run(mode, func(t *testing.T) {
			h.settings.RootfsOwnership = mode
			id := h.id(t)
			b := h.bundle(t, id, "plain", []string{"/attempts", "owner-is", "/bin/busybox", "0"}, nil)
			out, errOut, code := h.run(t, id, b)
			r := results(t, out)["owner-is"]
			if code != 0 || !r.OK {
				t.Fatalf("inside, /bin/busybox is not root's (exit %d): %+v %s", code, r, errOut)
			}
			var st unix.Stat_t
			if err := unix.Stat(filepath.Join(b, "rootfs", "bin", "busybox"), &st); err != nil {
				t.Fatal(err)
			}
			want := uint32(0)
			if mode == "chown" {
				want = h.settings.UIDBase
			}
			if st.Uid != want {
				t.Errorf("on the host, busybox is owned by %d, want %d", st.Uid, want)
			}
			cfg, _ := os.ReadFile(filepath.Join(b, "config.json"))
			if !strings.Contains(string(cfg), `"`+AnnotationRootfs+`":"`+mode+`"`) {
				t.Errorf("config.json does not record rootfs ownership %q", mode)
			}
		})
	}
}

// Escape attempts: each runs in a --privileged container (the most the
// engine can ask for) and must fail.

func escape(t *testing.T, name string, args ...string) {
	t.Helper()
	h := newHarness(t)
	r := h.attempt(t, "privileged", nil, name, args...)
	if r.OK {
		t.Fatalf("escape %s succeeded: %s", name, r.Detail)
	}
}

func TestEscapeBlockDeviceMount(t *testing.T) { escape(t, "block-device-mount") }
func TestEscapeSysrqTrigger(t *testing.T)     { escape(t, "sysrq-trigger") }
func TestEscapeCorePattern(t *testing.T)      { escape(t, "core-pattern") }
func TestEscapeReleaseAgent(t *testing.T)     { escape(t, "release-agent") }
func TestEscapeKernelModule(t *testing.T)     { escape(t, "kernel-module") }
func TestEscapeOpenByHandleAt(t *testing.T)   { escape(t, "open-by-handle-at") }

// TestEscapeProcExeWrite is CVE-2019-5736: while the battery watches
// /proc, the runtime joins the container for `exec`; opening its binary for
// writing must fail.
func TestEscapeProcExeWrite(t *testing.T) {
	h := newHarness(t)
	id := h.id(t)
	b := h.bundle(t, id, "privileged", []string{"/attempts", "proc-exe-write", "6s"}, nil)
	out, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	t.Cleanup(func() { h.delete(id) })
	run := h.cmd(ctx, t, false, "run", "--detach", "--bundle", b, id)
	run.Stdout, run.Stderr = out, out
	if err := run.Run(); err != nil {
		t.Fatalf("run --detach: %v", err)
	}
	for i := 0; i < 10; i++ {
		ex := h.cmd(ctx, t, false, "exec", id, "/bin/true")
		if b, err := ex.CombinedOutput(); err != nil && i == 0 {
			t.Logf("exec: %v: %s", err, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for ctx.Err() == nil {
		st, _ := h.cmd(ctx, t, true, "state", id).Output()
		if strings.Contains(string(st), `"stopped"`) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	got, _ := os.ReadFile(out.Name())
	r, ok := results(t, string(got))["proc-exe-write"]
	if !ok {
		t.Fatalf("no result: %q", got)
	}
	t.Logf("proc-exe-write: ok=%v: %s", r.OK, r.Detail)
	if r.OK {
		t.Fatalf("opened the runtime binary for writing: %s", r.Detail)
	}
	if strings.HasPrefix(r.Detail, "no foreign executable") {
		t.Fatalf("the runtime never showed up in the container while the battery watched: %s", r.Detail)
	}
}

// refused runs a config through the shim and checks it is refused with
// want on stderr and in runc's log, before any container exists.
func refused(t *testing.T, h *harness, config string, mutate func(*specs.Spec), want string) {
	t.Helper()
	id := h.id(t)
	b := h.bundle(t, id, config, []string{"/bin/true"}, mutate)
	_, errOut, code := h.run(t, id, b)
	if code == 0 {
		t.Fatalf("the container ran; want the refusal %q", want)
	}
	if strings.TrimSpace(errOut) != want {
		t.Fatalf("stderr:\n got %q\nwant %q", strings.TrimSpace(errOut), want)
	}
	log, _ := os.ReadFile(filepath.Join(h.dir, "runc.log"))
	if !strings.Contains(string(log), `"level":"error","msg":"`+strings.ReplaceAll(want, `'`, `\u0027`)) &&
		!strings.Contains(string(log), want) {
		t.Errorf("runc.log lacks the refusal:\n%s", log)
	}
	if _, err := os.Stat(filepath.Join(h.dir, "runc", id)); err == nil {
		t.Errorf("runc state for %s exists: the real runtime ran", id)
	}
}

func TestEscapeHostPIDNamespace(t *testing.T) {
	refused(t, newHarness(t), "pid-host", nil,
		"hardenvm: sharing the host's pid namespace is not allowed by the admin policy (enhancedContainerIsolation)")
}

// TestEscapeHostNetwork passes the host's network namespace the way the
// engine does for --network=host: a file with the namespace bind-mounted on
// it (Docker's <exec-root>/netns/default).
func TestEscapeHostNetwork(t *testing.T) {
	h := newHarness(t)
	ns := filepath.Join(t.TempDir(), "default")
	if err := os.WriteFile(ns, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("/proc/self/ns/net", ns, "", unix.MS_BIND, ""); err != nil {
		t.Fatalf("bind-mounting the host netns: %v", err)
	}
	defer unix.Unmount(ns, unix.MNT_DETACH)
	refused(t, h, "plain", func(s *specs.Spec) {
		for i, n := range s.Linux.Namespaces {
			if n.Type == specs.NetworkNamespace {
				s.Linux.Namespaces[i].Path = ns
			}
		}
	}, "hardenvm: sharing the host's net namespace ("+ns+") is not allowed by the admin policy (enhancedContainerIsolation)")
}

func bind(src string) func(*specs.Spec) {
	return func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x", Type: "bind", Source: src, Options: []string{"rbind", "rprivate"}})
	}
}

func TestEscapeProtectedBindMount(t *testing.T) {
	h := newHarness(t)
	tmp := t.TempDir()
	prot := filepath.Join(tmp, "protected")
	os.MkdirAll(filepath.Join(tmp, "a", "b"), 0o755)
	os.Mkdir(prot, 0o755)
	os.Symlink(prot, filepath.Join(tmp, "link"))
	h.settings.ProtectedPaths = append(h.settings.ProtectedPaths, prot)
	msg := "hardenvm: bind mount of the protected VM path " + prot
	tail := " is not allowed by the admin policy (enhancedContainerIsolation)"
	for _, tt := range []struct{ name, src, want string }{
		{"direct", prot, msg + tail},
		{"symlink", filepath.Join(tmp, "link"), msg + " (via " + tmp + "/link)" + tail},
		{"dotdot", tmp + "/a/b/../../protected", msg + " (via " + tmp + "/a/b/../../protected)" + tail},
		{"parent", tmp, "hardenvm: bind mount of the protected VM path " + tmp + tail},
		{"proc", "/proc", "hardenvm: bind mount of the protected VM path /proc" + tail},
	} {
		t.Run(tt.name, func(t *testing.T) { refused(t, h, "plain", bind(tt.src), tt.want) })
	}
}

func TestEscapeEngineSocket(t *testing.T) {
	h := newHarness(t)
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	sock := filepath.Join(dir, "docker.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	h.settings.EngineSockets = append(h.settings.EngineSockets, sock)
	refused(t, h, "plain", bind(sock),
		"hardenvm: mounting the engine socket "+sock+" into this image is not allowed by the admin policy (enhancedContainerIsolation.dockerSocketMount.imageList)")
}

// Work that must still run.

func TestWorkPlain(t *testing.T) {
	h := newHarness(t)
	id := h.id(t)
	b := h.bundle(t, id, "plain", []string{"/bin/sh", "-c", "echo hello from $(id -u)"}, nil)
	out, errOut, code := h.run(t, id, b)
	if code != 0 || strings.TrimSpace(out) != "hello from 0" {
		t.Fatalf("plain container: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestWorkPrivilegedTmpfsAndNestedUserns(t *testing.T) {
	h := newHarness(t)
	for _, name := range []string{"mount-tmpfs", "nested-userns"} {
		t.Run(name, func(t *testing.T) {
			if r := h.attempt(t, "privileged", nil, name); !r.OK {
				t.Fatalf("%s failed in a privileged container: %s", name, r.Detail)
			}
		})
	}
}

// TestWorkSharedVolume: a file chowned in one container is seen with the
// same owner by a second container sharing the volume.
func TestWorkSharedVolume(t *testing.T) {
	h := newHarness(t)
	vol := t.TempDir() // owned by host root, like a fresh engine volume
	mnt := func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/vol", Type: "bind", Source: vol, Options: []string{"rbind", "rprivate"}})
	}
	if r := h.attempt(t, "plain", mnt, "chown-file", "/vol/f", "1234"); !r.OK {
		t.Fatalf("first container: %s", r.Detail)
	}
	if r := h.attempt(t, "plain", mnt, "owner-is", "/vol/f", "1234"); !r.OK {
		t.Fatalf("second container: %s", r.Detail)
	}
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(vol, "f"), &st); err != nil {
		t.Fatal(err)
	}
	t.Logf("on the host the file is owned by %d:%d", st.Uid, st.Gid)
	if st.Uid != 1234 {
		t.Errorf("host owner %d: the ID-mapped volume should store the container's uid 1234", st.Uid)
	}
}

// TestEscapeRemountReadOnlyBind: a read-only bind mount stays read-only
// even for a --privileged container's root.
func TestEscapeRemountReadOnlyBind(t *testing.T) {
	h := newHarness(t)
	src := t.TempDir()
	r := h.attempt(t, "privileged", func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/ro", Type: "bind", Source: src, Options: []string{"rbind", "ro", "rprivate"}})
	}, "remount-rw", "/ro")
	if r.OK {
		t.Fatalf("escape succeeded: %s", r.Detail)
	}
}

func TestSharedDirsAndOnRoot(t *testing.T) {
	dir := t.TempDir()
	p := dir + "/shares.json"
	if got, err := sharedDirs(p); err != nil || got != nil {
		t.Errorf("sharedDirs(missing) = %v, %v; want none", got, err)
	}
	os.WriteFile(p, []byte(`{"shares":[{"tag":"hvshare0","path":"/home/a/src"}]}`), 0o644)
	if got, err := sharedDirs(p); err != nil || len(got) != 1 || got[0] != "/home/a/src" {
		t.Errorf("sharedDirs = %v, %v", got, err)
	}
	os.WriteFile(p, []byte(`{"shares":[{"tag":"x","path":"/"}]}`), 0o644)
	if _, err := sharedDirs(p); err == nil {
		t.Error("sharedDirs of a bad list succeeded")
	}
	if on, err := onRootFS("/"); !on || err != nil {
		t.Errorf("onRootFS(/) = %v, %v", on, err)
	}
	if on, err := onRootFS(dir + "/missing/x"); on || err != nil {
		t.Errorf("onRootFS(missing) = %v, %v; want false", on, err)
	}
}

// TestWorkNestingUnprivileged: with the admin setting nesting, a
// container without --privileged mounts and nests namespaces, and the
// escapes still fail.
func TestWorkNestingUnprivileged(t *testing.T) {
	h := newHarness(t)
	h.settings.Nesting = true
	for _, name := range []string{"mount-tmpfs", "nested-userns"} {
		if r := h.attempt(t, "plain", nil, name); !r.OK {
			t.Errorf("%s failed in a plain container with nesting: %s", name, r.Detail)
		}
	}
	for _, name := range []string{"sysrq-trigger", "kernel-module", "core-pattern", "release-agent"} {
		if r := h.attempt(t, "plain", nil, name); r.OK {
			t.Errorf("escape %s succeeded in a plain container with nesting: %s", name, r.Detail)
		}
	}
}
