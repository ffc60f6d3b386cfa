package qemu

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hardenvm/hardenvm/internal/testenv"
)

// TestDesktopFileSharing shares a host directory with the desktop image
// (hardenvm run --share, virtiofs) under admin settings that allow one
// host directory: a share outside it is refused by run before anything
// boots, naming filesharingAllowedDirectories; in one boot, a container
// bind-mounts the share at the host's path, reads the host's file and
// writes one that the host sees owned by the user who ran hardenvm; a
// bind of an unshared host path is refused by the runtime with the policy
// line; stopping run leaves no virtiofsd behind. Users run hardenvm
// without privileges, so the test does too: run as root, it boots the VM
// and runs the docker CLI as nobody.
func TestDesktopFileSharing(t *testing.T) {
	requireQEMU(t)
	testenv.File(t, "/usr/lib/qemu/virtiofsd", "qemu-system-common")
	testenv.Tool(t, "docker", "docker.io")
	keysDir := newKeys(t)
	img := buildDesktop(t, keysDir)
	cli := hardenvmBinary(t)

	base := t.TempDir()
	var user *syscall.Credential
	if os.Getuid() == 0 {
		user = &syscall.Credential{Uid: nobody, Gid: nobody}
		base = worldDir(t)
	}
	allowed, outside := filepath.Join(base, "allowed"), filepath.Join(base, "outside")
	shared := filepath.Join(allowed, "proj")
	for _, d := range []string{shared, outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(shared, "hello.txt"), []byte("from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	installSettings(t, img, keysDir, `{"configurationFileVersion":2,"filesharingAllowedDirectories":[{"path":"`+allowed+`","sharedByDefault":false}]}`, nil)

	t.Run("share outside the allowed directories", func(t *testing.T) {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		state := filepath.Join(t.TempDir(), "state")
		out, err := exec.CommandContext(ctx, cli, "run", img, "--keys", keysDir, "--state", state, "--share", outside,
			"--no-stdin", "--accel", "tcg", "--timeout", "1m").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "filesharingAllowedDirectories") || !strings.Contains(string(out), outside) {
			t.Fatalf("run --share %s = %v, want a refusal naming the directory and filesharingAllowedDirectories:\n%s", outside, err, out)
		}
		if _, err := os.Stat(filepath.Join(state, "serial.log")); err == nil {
			t.Errorf("run started a VM before refusing the share")
		}
		t.Logf("refused in %v: %s", time.Since(start).Round(time.Millisecond), lastNonEmptyLine(string(out)))
	})

	state := filepath.Join(t.TempDir(), "state")
	dockerConfig := t.TempDir()
	imageTar := filepath.Join(t.TempDir(), "hvtest.tar")
	owner, group := os.Getuid(), os.Getgid()
	if user != nil {
		img, keysDir, cli = copyTo(t, img, base), copyTo(t, keysDir, base), copyTo(t, cli, base)
		state, dockerConfig, imageTar = filepath.Join(base, "run", "state"), filepath.Join(base, "docker-config"), filepath.Join(base, "hvtest.tar")
		os.MkdirAll(filepath.Dir(state), 0o700)
		os.MkdirAll(dockerConfig, 0o700)
		owner, group = nobody, nobody
	}
	if err := os.WriteFile(imageTar, busyboxImage(t, "hvtest:1"), 0o644); err != nil {
		t.Fatal(err)
	}
	if user != nil {
		chownTree(t, base, nobody)
	}
	d := desktopRun{cli: cli, img: img, keysDir: keysDir, state: state, context: "hvshare", dockerConfig: dockerConfig,
		extra: []string{"--share", shared}, user: user}
	dockerCLI := func(t *testing.T, args ...string) (string, error) { return d.docker(args...) }
	stop := d.start(t)
	serial, _ := os.ReadFile(filepath.Join(state, "serial.log"))
	if !strings.Contains(string(serial), "hardenvm-init: host directory "+shared+" shared") {
		t.Errorf("the serial console does not say the share was mounted:\n%s", serial)
	}

	if out, err := dockerCLI(t, "load", "-i", imageTar); err != nil {
		t.Fatalf("docker load: %v: %s", err, out)
	}
	start := time.Now()
	out, err := dockerCLI(t, "run", "--rm", "--network", "none", "-v", shared+":/src", "hvtest:1",
		"sh", "-c", "cat /src/hello.txt && echo from the container > /src/made.txt && ls -ln /src/made.txt")
	if err != nil || !strings.Contains(out, "from the host") {
		t.Fatalf("docker run -v %s:/src: %v: %s", shared, err, out)
	}
	t.Logf("container read and wrote the share in %v; in the container: %s", time.Since(start).Round(time.Millisecond), lastNonEmptyLine(out))
	made := filepath.Join(shared, "made.txt")
	b, err := os.ReadFile(made)
	if err != nil || string(b) != "from the container\n" {
		t.Fatalf("the container's file on the host: %q, %v", b, err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(made, &st); err != nil {
		t.Fatal(err)
	}
	if int(st.Uid) != owner || int(st.Gid) != group {
		t.Errorf("%s is owned by %d:%d on the host, want the user who ran hardenvm, %d:%d", made, st.Uid, st.Gid, owner, group)
	}

	out, err = dockerCLI(t, "run", "--rm", "--network", "none", "-v", outside+":/x", "hvtest:1", "true")
	if err == nil || !strings.Contains(out, "is not allowed by the admin policy (filesharingAllowedDirectories)") {
		t.Errorf("docker run -v %s (not shared): %v: %s; want the policy line naming filesharingAllowedDirectories", outside, err, out)
	} else {
		t.Logf("unshared bind refused: %s", out[strings.Index(out, "hardenvm: bind"):])
	}

	stop()
	assertNoneLeft(t, state)
}

func lastNonEmptyLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// nobody is the unprivileged user a root test runs hardenvm as.
const nobody = 65534

// worldDir is a temporary directory others may traverse (t.TempDir's
// parents are root's alone), removed at the test's end.
func worldDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "hardenvm-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// copyTo copies src (a file or directory, sparse files kept sparse) into
// dir and returns the copy's path.
func copyTo(t *testing.T, src, dir string) string {
	t.Helper()
	dst := filepath.Join(dir, filepath.Base(src))
	if out, err := exec.Command("cp", "-a", "--sparse=always", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp %s %s: %v: %s", src, dst, err, out)
	}
	return dst
}

// chownTree gives everything under dir to uid (and the same gid).
func chownTree(t *testing.T, dir string, uid int) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, uid)
	})
	if err != nil {
		t.Fatal(err)
	}
}
