// Package registrytest runs a real OCI registry for tests: Debian's
// docker-registry (the CNCF distribution registry) on a loopback port, with
// optional htpasswd authentication, and points the docker credential
// keychain at a config.json of the test's choosing.
package registrytest

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/hardenvm/hardenvm/internal/testenv"
)

// Registry is a real registry server (Debian's docker-registry, the
// CNCF distribution registry 2.8) on a loopback port.
type Registry struct {
	Addr    string // 127.0.0.1:PORT
	Storage string // its filesystem storage root
	PID     int
}

// Start runs docker-registry; with user set it requires HTTP basic
// auth (htpasswd) for that user and password.
func Start(t testing.TB, user, password string) *Registry {
	t.Helper()
	bin := testenv.Tool(t, "docker-registry", "docker-registry")
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	r := &Registry{Addr: addr, Storage: filepath.Join(dir, "storage")}
	auth := ""
	if user != "" {
		h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		pw := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(pw, fmt.Appendf(nil, "%s:%s\n", user, h), 0o600); err != nil {
			t.Fatal(err)
		}
		auth = fmt.Sprintf("auth:\n  htpasswd:\n    realm: hardenvm-test\n    path: %s\n", pw)
	}
	cfg := filepath.Join(dir, "config.yml")
	conf := fmt.Sprintf(`version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
  secret: hardenvm-test
%s`, r.Storage, addr, auth)
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", cfg)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.PID = cmd.Process.Pid
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("registry log:\n%s", b)
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return r
			}
		}
		select {
		case <-done:
			b, _ := os.ReadFile(logf.Name())
			t.Fatalf("docker-registry exited: %s", b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("docker-registry did not answer on %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// DockerConfig points the default keychain (DOCKER_CONFIG) at a
// config.json holding these credentials for the registry (none when user
// is empty).
func DockerConfig(t testing.TB, addr, user, password string) {
	t.Helper()
	dir := t.TempDir()
	b := []byte(`{"auths": {}}`) // no credentials: the host's own stay out of the test
	if user != "" {
		auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
		b = fmt.Appendf(nil, `{"auths": {%q: {"auth": %q}}}`, addr, auth)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", dir)
}

// BlobPath is where the registry stores a blob.
func (r *Registry) BlobPath(digest string) string {
	hex := digest[len("sha256:"):]
	return filepath.Join(r.Storage, "docker", "registry", "v2", "blobs", "sha256", hex[:2], hex, "data")
}
