package shim

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hardenvm/hardenvm/pkg/runtime"
	"github.com/hardenvm/hardenvm/pkg/runtime/authz"
)

// authzServer is hardenvm's AuthZ plugin served from the test process on
// the socket dockerd discovers plugins by (/run/docker/plugins/NAME.sock),
// reading the engine's settings file on every call and recording what
// dockerd sent.
type authzServer struct {
	name, sock string
	mu         sync.Mutex
	seen       []authz.Request
	raw        [][]byte // the JSON exactly as dockerd sent it
}

func startAuthz(t *testing.T, e *engine) *authzServer {
	t.Helper()
	a := &authzServer{name: fmt.Sprintf("hardenvm-test-%d", os.Getpid())}
	if err := os.MkdirAll("/run/docker/plugins", 0o755); err != nil {
		t.Fatal(err)
	}
	a.sock = filepath.Join("/run/docker/plugins", a.name+".sock")
	os.Remove(a.sock)
	l, err := net.Listen("unix", a.sock)
	if err != nil {
		t.Fatal(err)
	}
	images := authz.EngineImages(e.sock)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := runtime.LoadSettings(e.settings)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		p := &authz.Policy{Settings: s, Image: images}
		if r.URL.Path == "/AuthZPlugin.AuthZReq" {
			b, _ := io.ReadAll(r.Body)
			var req authz.Request
			json.Unmarshal(b, &req)
			a.mu.Lock()
			a.seen = append(a.seen, req)
			a.raw = append(a.raw, b)
			a.mu.Unlock()
			r.Body = io.NopCloser(strings.NewReader(string(b)))
		}
		authz.Handler(p, nil).ServeHTTP(w, r)
	})}
	go srv.Serve(l)
	t.Cleanup(func() {
		srv.Close()
		os.Remove(a.sock)
		a.record(t)
	})
	return a
}

// record writes the requests dockerd sent into ../authz/testdata/dockerd
// when HARDENVM_RECORD_AUTHZ=1 (fixtures for the unit tests).
func (a *authzServer) record(t *testing.T) {
	if os.Getenv("HARDENVM_RECORD_AUTHZ") != "1" {
		return
	}
	dir := filepath.Join("..", "authz", "testdata", "dockerd")
	os.MkdirAll(dir, 0o755)
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, r := range a.seen {
		b := a.raw[i]
		name := fmt.Sprintf("%03d-%s.json", i, strings.Trim(strings.NewReplacer("/", "_", "?", "_", "&", "_", "=", "_").Replace(r.RequestMethod+r.RequestURI), "_"))
		if len(name) > 100 {
			name = name[:95] + ".json"
		}
		os.WriteFile(filepath.Join(dir, name), b, 0o644)
	}
	t.Logf("recorded %d AuthZ requests in %s", len(a.seen), dir)
}

// TestDockerAuthz drives the real engine with the plugin in front of it.
func TestDockerAuthz(t *testing.T) {
	shimBin, att := build(t)
	e := startEngine(t, shimBin, att)
	denied := func(t *testing.T, err error, key string) {
		t.Helper()
		if err == nil {
			t.Fatal("the engine allowed it")
		}
		want := "authorization denied by plugin " + e.authz.name + ": hardenvm: "
		if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "is not allowed by the admin policy ("+key+")") {
			t.Fatalf("error %v\nwant …%s… (%s)", err, want, key)
		}
		t.Logf("refused: %v", err)
	}
	set := func(t *testing.T, f func(*runtime.Settings)) {
		s := runtime.Default()
		s.DockerRoot = filepath.Join(e.dir, "data")
		s.EngineSockets = append(s.EngineSockets, e.sock)
		f(&s)
		b, _ := json.Marshal(s)
		os.WriteFile(e.settings, b, 0o644)
		t.Cleanup(func() { e.setSettings(t, nil) })
	}

	t.Run("push-denied", func(t *testing.T) {
		set(t, func(s *runtime.Settings) {
			s.CommandList = runtime.CommandList{Type: "deny", Commands: []string{"push"}}
		})
		ref := "127.0.0.1:9/hardenvm/battery:test" // loopback: never leaves the machine
		if _, err := e.docker(t, 30*time.Second, "tag", e.image, ref); err != nil {
			t.Fatal(err)
		}
		_, err := e.docker(t, 60*time.Second, "push", ref)
		denied(t, err, runtime.KeyCommandList)
		if _, err := e.docker(t, 30*time.Second, "image", "ls"); err != nil {
			t.Fatalf("a command not on the deny list was refused: %v", err)
		}
	})
	t.Run("command-allow-list", func(t *testing.T) {
		set(t, func(s *runtime.Settings) {
			s.CommandList = runtime.CommandList{Type: "allow", Commands: []string{"image*", "version"}}
		})
		if _, err := e.docker(t, 30*time.Second, "image", "ls"); err != nil {
			t.Fatalf("image ls: %v", err)
		}
		_, err := e.docker(t, 30*time.Second, "volume", "ls")
		denied(t, err, runtime.KeyCommandList)
	})
	t.Run("pull-outside-registry-allow-list", func(t *testing.T) {
		set(t, func(s *runtime.Settings) { s.RegistryAllowList = []string{"127.0.0.1:5000"} })
		_, err := e.docker(t, 60*time.Second, "pull", "127.0.0.1:9/hardenvm/none:1")
		denied(t, err, runtime.KeyRegistries)
		// An allowed registry gets through the plugin; the pull itself then
		// fails on the closed loopback port.
		set(t, func(s *runtime.Settings) { s.RegistryAllowList = []string{"127.0.0.1:9"} })
		_, err = e.docker(t, 60*time.Second, "pull", "127.0.0.1:9/hardenvm/none:1")
		if err == nil || strings.Contains(err.Error(), "authorization denied") {
			t.Fatalf("pull from an allowed registry: %v", err)
		}
	})
	t.Run("plugin-install", func(t *testing.T) {
		_, err := e.docker(t, 60*time.Second, "plugin", "install", "--grant-all-permissions", "127.0.0.1:9/hardenvm/plugin:1")
		denied(t, err, runtime.KeyECI)
	})
	t.Run("socket-not-allow-listed", func(t *testing.T) {
		_, err := e.run(t, "-v", e.sock+":/s", e.image, "true")
		denied(t, err, runtime.KeySocketMount)
	})
	t.Run("socket-allow-listed-by-id", func(t *testing.T) {
		set(t, func(s *runtime.Settings) { s.SocketImages = []string{e.imageID} })
		out, err := e.run(t, "-v", e.sock+":/var/run/docker.sock", e.image, "/attempts", "engine-ping", "/var/run/docker.sock")
		if err != nil {
			t.Fatalf("allow-listed image: %v %+v", err, results(t, out))
		}
	})
	t.Run("volume-on-a-vm-path", func(t *testing.T) {
		_, err := e.docker(t, 30*time.Second, "volume", "create", "--driver", "local",
			"--opt", "type=none", "--opt", "o=bind", "--opt", "device=/etc/docker", "hvm-evil")
		denied(t, err, runtime.KeyECI)
	})
	t.Run("protocol-seen", func(t *testing.T) {
		e.authz.mu.Lock()
		defer e.authz.mu.Unlock()
		var create *authz.Request
		for i, r := range e.authz.seen {
			if strings.Contains(r.RequestURI, "/containers/create") {
				create = &e.authz.seen[i]
			}
		}
		if create == nil || create.RequestMethod != "POST" || len(create.RequestBody) == 0 {
			t.Fatalf("dockerd sent no container create with a body: %+v", create)
		}
	})
}
