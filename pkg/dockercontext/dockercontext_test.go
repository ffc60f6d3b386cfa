package dockercontext

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/hardenvm/hardenvm/internal/testenv"
)

// TestWriteDockerCLI: the real docker CLI lists the context and resolves
// its endpoint; writing it again replaces it.
func TestWriteDockerCLI(t *testing.T) {
	docker := testenv.Tool(t, "docker", "docker-cli (or docker.io)")
	dir := t.TempDir()
	for _, host := range []string{"unix:///tmp/a/docker.sock", "unix:///tmp/b/docker.sock"} {
		if err := Write(dir, "hardenvm-test", host, "hardenvm VM"); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(docker, "context", "inspect", "--format", "{{.Name}} {{.Endpoints.docker.Host}}", "hardenvm-test")
		cmd.Env = append(cmd.Environ(), "DOCKER_CONFIG="+dir)
		out, err := cmd.CombinedOutput()
		if got := strings.TrimSpace(string(out)); err != nil || got != "hardenvm-test "+host {
			t.Errorf("docker context inspect = %q, %v; want %q", got, err, "hardenvm-test "+host)
		}
	}
	if err := Write(dir, "default", "unix:///x", ""); err == nil {
		t.Error("Write(default) succeeded")
	}
}
