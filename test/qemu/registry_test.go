package qemu

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// registries are two registries on the host's loopback, each holding the
// busybox test image as egress/bb:1; the VM reaches them as
// host.docker.internal (QEMU's 10.0.2.2). The admin settings list one.
type registries struct {
	listed, unlisted string // host.docker.internal:PORT
}

// newRegistries starts them (stopped at the end of the test).
func newRegistries(t *testing.T) registries {
	t.Helper()
	img, err := tarball.Image(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(busyboxImage(t, "bb:1"))), nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var r registries
	for _, dst := range []*string{&r.listed, &r.unlisted} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: registry.New(registry.Logger(log.New(io.Discard, "", 0))), ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(l)
		t.Cleanup(func() { srv.Close() })
		port := l.Addr().(*net.TCPAddr).Port
		ref, err := name.ParseReference(fmt.Sprintf("127.0.0.1:%d/egress/bb:1", port), name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(ref, img); err != nil {
			t.Fatalf("pushing the test image to %v: %v", ref, err)
		}
		*dst = fmt.Sprintf("host.docker.internal:%d", port)
	}
	return r
}

// testProxy is the admin proxy of the workloads boot: nothing listens
// there (.invalid); containers only show it in their environment, and
// the engine and inner engines reach the registries directly
// (NO_PROXY).
const testProxy = "http://proxy.invalid:3128"

// settings are the admin settings that list r.listed (also as an
// insecure registry: it speaks plain HTTP), and the admin proxy.
func (r registries) settings() string {
	return `"registryAllowList":{"value":["` + r.listed + `"],"locked":true},` +
		`"linuxVM":{"dockerDaemonOptions":{"locked":true,"value":{"insecure-registries":["` + r.listed + `"]}}},` +
		`"proxy":{"locked":true,"mode":"manual","http":"` + testProxy + `","https":"` + testProxy + `","exclude":["host.docker.internal"]},`
}

// registryAllowList: a pull, a docker build FROM, and an inner engine's
// pull from the unlisted registry fail naming the policy; from the
// listed one they work. The build and the inner engine never ask the
// authorization plugin: what stops them is the egress filter. Then the
// admin proxy in a container's environment.
func (w workloads) registryAllowList(r registries) {
	const key = "registryAllowList"
	defer w.rm("dind-reg")
	defer w.d.docker("rmi", "-f", r.listed+"/egress/bb:1", "from-listed:1")
	start := time.Now()
	// An inner engine (Docker-in-Docker) that trusts both registries:
	// its traffic leaves through the outer container's interface. It
	// starts while the outer engine's checks run.
	w.must("run", "-d", "--privileged", "--name", "dind-reg", "dind:1", "dockerd",
		"--insecure-registry", r.listed, "--insecure-registry", r.unlisted)
	if out, err := w.docker("pull", r.unlisted+"/egress/bb:1"); err == nil || !strings.Contains(out, key) {
		w.t.Errorf("docker pull from the unlisted registry: %v, want a refusal naming %s", err, key)
	}
	w.must("pull", r.listed+"/egress/bb:1")
	w.must("rmi", r.listed+"/egress/bb:1") // the build below pulls it again
	build := func(from string) (string, error) {
		ctx := filepath.Join(w.t.TempDir(), "ctx")
		os.MkdirAll(ctx, 0o755)
		os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte("FROM "+from+"/egress/bb:1\nRUN true\n"), 0o644)
		cmd := exec.Command("docker", "--context", w.d.context, "build", "-t", "from-listed:1", ctx)
		cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+w.d.dockerConfig, "DOCKER_BUILDKIT=0")
		out, err := cmd.CombinedOutput()
		w.t.Logf("$ docker build (FROM %s)\n%s", from, out)
		return string(out), err
	}
	if out, err := build(r.unlisted); err == nil || !strings.Contains(out, key) {
		w.t.Errorf("docker build FROM the unlisted registry: %v, want a failure naming %s", err, key)
	}
	if _, err := build(r.listed); err != nil {
		w.t.Errorf("docker build FROM the listed registry: %v", err)
	}
	w.t.Logf("pulls and builds: %v", time.Since(start).Round(time.Second))

	// The inner engine started at the beginning is up by now (or soon).
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if _, err := w.d.docker("exec", "dind-reg", "docker", "version"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			logs, _ := w.d.docker("logs", "--tail", "30", "dind-reg")
			w.t.Fatalf("the inner dockerd did not answer within 2m; its last lines:\n%s", logs)
		}
		time.Sleep(2 * time.Second)
	}
	if out, err := w.docker("exec", "dind-reg", "docker", "pull", r.unlisted+"/egress/bb:1"); err == nil || !strings.Contains(out, key) {
		w.t.Errorf("inner docker pull from the unlisted registry: %v, want a failure naming %s", err, key)
	}
	w.must("exec", "dind-reg", "docker", "pull", r.listed+"/egress/bb:1")
	w.t.Logf("registry allow-list checks: %v", time.Since(start).Round(time.Second))

	// The admin proxy in a container's environment, unless it sets its own.
	w.expect(testProxy+" "+testProxy+" host.docker.internal mine", "run", "--rm", "--network", "none", "-e", "https_proxy=mine",
		"bb:1", "sh", "-c", "echo $HTTP_PROXY $http_proxy $NO_PROXY $https_proxy${HTTPS_PROXY}")
}
