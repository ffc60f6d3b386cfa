package authz

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardenvm/hardenvm/pkg/runtime"
)

// Requests in testdata/dockerd were recorded from dockerd 20.10 (Debian
// bookworm) talking to this plugin (shim TestDockerAuthz with
// HARDENVM_RECORD_AUTHZ=1): the protocol exactly as the engine speaks it.
func load(t testing.TB, name string) *Request {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "dockerd", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var r Request
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

// socketOf reads the engine socket the recorded create bound (the test
// engine's, in a temporary directory).
func socketOf(t *testing.T) string {
	var c createBody
	if err := json.Unmarshal(load(t, "create-socket").RequestBody, &c); err != nil {
		t.Fatal(err)
	}
	src, _, _ := strings.Cut(c.HostConfig.Binds[0], ":")
	return src
}

func TestDecideRecorded(t *testing.T) {
	sock := socketOf(t)
	images := func(ref string) (*runtime.Image, error) {
		if ref == "hardenvm/battery:test" {
			return &runtime.Image{ID: "sha256:battery", RepoTags: []string{ref}}, nil
		}
		return nil, fmt.Errorf("no such image %s", ref)
	}
	noLinks := func(p string) (string, error) { return filepath.Clean(p), nil }
	tests := []struct {
		fixture  string
		settings func(*runtime.Settings)
		want     string // "" allowed, else the refusal
	}{
		{fixture: "ping", settings: func(s *runtime.Settings) {
			s.CommandList = runtime.CommandList{Type: "allow", Commands: []string{"image ls"}}
		}},
		{fixture: "push"},
		{fixture: "push", settings: func(s *runtime.Settings) {
			s.CommandList = runtime.CommandList{Type: "deny", Commands: []string{"push"}}
		},
			want: `hardenvm: docker command "image push" (POST /v1.41/images/127.0.0.1:9/hardenvm/battery/push?tag=test) is not allowed by the admin policy (enhancedContainerIsolation.dockerSocketMount.commandList)`},
		{fixture: "push", settings: func(s *runtime.Settings) {
			s.CommandList = runtime.CommandList{Type: "deny", Commands: []string{"image*"}}
		},
			want: `hardenvm: docker command "image push" (POST /v1.41/images/127.0.0.1:9/hardenvm/battery/push?tag=test) is not allowed by the admin policy (enhancedContainerIsolation.dockerSocketMount.commandList)`},
		{fixture: "push", settings: func(s *runtime.Settings) {
			s.CommandList = runtime.CommandList{Type: "deny", Commands: []string{"container*"}}
		}},
		{fixture: "volume-ls", settings: func(s *runtime.Settings) {
			s.CommandList = runtime.CommandList{Type: "allow", Commands: []string{"image*"}}
		},
			want: `hardenvm: docker command "volume ls" (GET /v1.41/volumes) is not allowed by the admin policy (enhancedContainerIsolation.dockerSocketMount.commandList)`},
		{fixture: "volume-ls", settings: func(s *runtime.Settings) {
			s.CommandList = runtime.CommandList{Type: "allow", Commands: []string{"volume*"}}
		}},
		{fixture: "pull"},
		{fixture: "pull", settings: func(s *runtime.Settings) { s.RegistryAllowList = []string{"127.0.0.1:5000"} },
			want: `hardenvm: pulling 127.0.0.1:9/hardenvm/none from registry 127.0.0.1:9 is not allowed by the admin policy (registryAllowList)`},
		{fixture: "pull", settings: func(s *runtime.Settings) { s.RegistryAllowList = []string{"127.0.0.1:9"} }},
		{fixture: "import", settings: func(s *runtime.Settings) { s.RegistryAllowList = []string{"127.0.0.1:5000"} }},
		{fixture: "import", settings: func(s *runtime.Settings) { s.BlockLoad = true },
			want: `hardenvm: docker import (images come from registries only) is not allowed by the admin policy (blockDockerLoad)`},
		{fixture: "plugin-privileges",
			want: `hardenvm: installing or changing engine plugins (plugin install) is not allowed by the admin policy (enhancedContainerIsolation)`},
		{fixture: "create-socket",
			want: `hardenvm: mounting the engine socket ` + sock + ` into image hardenvm/battery:test is not allowed by the admin policy (enhancedContainerIsolation.dockerSocketMount.imageList)`},
		{fixture: "create-socket", settings: func(s *runtime.Settings) { s.SocketImages = []string{"sha256:battery"} }},
		{fixture: "create-socket", settings: func(s *runtime.Settings) { s.SocketImages = []string{"hardenvm/battery:test"} },
			want: `hardenvm: mounting the engine socket ` + sock + ` into image hardenvm/battery:test is not allowed by the admin policy (enhancedContainerIsolation.dockerSocketMount.imageList)`},
		{fixture: "container-start"},
		{fixture: "volume-create-bind",
			want: `hardenvm: a volume backed by /etc/docker (type "none") is not allowed by the admin policy (enhancedContainerIsolation)`},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			s := runtime.Default()
			s.EngineSockets = append(s.EngineSockets, sock)
			if tt.settings != nil {
				tt.settings(&s)
			}
			p := &Policy{Settings: s, Image: images, Resolve: noLinks}
			got := p.Decide(load(t, tt.fixture))
			if got.Err != "" {
				t.Fatalf("Decide: Err %q", got.Err)
			}
			if tt.want == "" {
				if !got.Allow {
					t.Fatalf("refused: %s", got.Msg)
				}
				return
			}
			if got.Allow || got.Msg != tt.want {
				t.Fatalf("Decide = %+v\nwant refusal %q", got, tt.want)
			}
		})
	}
}

// TestHandlerProtocol speaks the plugin protocol over HTTP as dockerd does.
func TestHandlerProtocol(t *testing.T) {
	s := runtime.Default()
	s.CommandList = runtime.CommandList{Type: "deny", Commands: []string{"push"}}
	srv := httptest.NewServer(Handler(&Policy{Settings: s}, nil))
	defer srv.Close()
	post := func(path string, body []byte) map[string]any {
		t.Helper()
		resp, err := http.Post(srv.URL+path, "application/vnd.docker.plugins.v1.2+json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); ct != contentType {
			t.Errorf("%s: Content-Type %q", path, ct)
		}
		var m map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return m
	}
	if m := post("/Plugin.Activate", nil); fmt.Sprint(m["Implements"]) != "[authz]" {
		t.Errorf("Activate = %v", m)
	}
	push, _ := os.ReadFile("testdata/dockerd/push.json")
	if m := post("/AuthZPlugin.AuthZReq", push); m["Allow"] != false || !strings.Contains(fmt.Sprint(m["Msg"]), "image push") {
		t.Errorf("AuthZReq(push) = %v", m)
	}
	ping, _ := os.ReadFile("testdata/dockerd/ping.json")
	if m := post("/AuthZPlugin.AuthZReq", ping); m["Allow"] != true {
		t.Errorf("AuthZReq(ping) = %v", m)
	}
	if m := post("/AuthZPlugin.AuthZRes", push); m["Allow"] != true {
		t.Errorf("AuthZRes = %v", m)
	}
	if m := post("/AuthZPlugin.AuthZReq", []byte("{")); m["Err"] == nil || m["Allow"] == true {
		t.Errorf("bad JSON = %v", m)
	}
}

func TestCommandNames(t *testing.T) {
	for _, tt := range []struct{ method, path, want string }{
		{"POST", "/containers/create", "container create"},
		{"POST", "/containers/abc/start", "container start"},
		{"DELETE", "/containers/abc", "container rm"},
		{"POST", "/images/ghcr.io/o/r/push", "image push"},
		{"DELETE", "/images/ghcr.io/o/r:1", "image rm"},
		{"GET", "/images/a/b/json", "image inspect"},
		{"POST", "/build", "image build"},
		{"POST", "/volumes/create", "volume create"},
		{"POST", "/networks/n1/connect", "network connect"},
		{"POST", "/plugins/pull", "plugin install"},
		{"POST", "/plugins/vieux/sshfs:latest/upgrade", "plugin upgrade"},
		{"GET", "/info", "system info"},
	} {
		c, ok := commandOf(tt.method, tt.path, false)
		if !ok || c.name != tt.want {
			t.Errorf("commandOf(%s %s) = %q, %v; want %q", tt.method, tt.path, c.name, ok, tt.want)
		}
	}
	if got := stripVersion("/v1.41/containers/json"); got != "/containers/json" {
		t.Errorf("stripVersion = %q", got)
	}
}

// FuzzDecide feeds arbitrary AuthZ request JSON: Decide must answer (allow,
// refuse or Err), never panic, and never allow a plugin install.
func FuzzDecide(f *testing.F) {
	ents, _ := os.ReadDir("testdata/dockerd")
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join("testdata/dockerd", e.Name()))
		f.Add(b)
	}
	f.Add([]byte(`{"RequestMethod":"POST","RequestUri":"/v1.99/plugins/pull?remote=x","RequestBody":"` + base64.StdEncoding.EncodeToString([]byte(`{}`)) + `"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var r Request
		if json.Unmarshal(data, &r) != nil {
			return
		}
		s := runtime.Default()
		s.CommandList = runtime.CommandList{Type: "deny", Commands: []string{"push"}}
		res := (&Policy{Settings: s, Resolve: func(p string) (string, error) { return filepath.Clean(p), nil }}).Decide(&r)
		u, err := url.ParseRequestURI(r.RequestURI)
		if err != nil {
			return
		}
		if res.Allow && strings.TrimSuffix(stripVersion(u.Path), "/") == "/plugins/pull" && strings.ToUpper(r.RequestMethod) == "POST" {
			t.Fatalf("allowed a plugin install: %s %s", r.RequestMethod, r.RequestURI)
		}
	})
}

// TestBlockLoad: with blockDockerLoad, docker load and docker import are
// refused with the key; pulls and other calls stay allowed.
func TestBlockLoad(t *testing.T) {
	for _, tt := range []struct {
		block       bool
		method, uri string
		want        string
	}{
		{true, "POST", "/v1.45/images/load?quiet=1", `hardenvm: docker load (images come from registries only) is not allowed by the admin policy (blockDockerLoad)`},
		{true, "POST", "/v1.45/images/create?fromSrc=-&repo=x", `hardenvm: docker import (images come from registries only) is not allowed by the admin policy (blockDockerLoad)`},
		{true, "POST", "/v1.45/images/create?fromImage=busybox&tag=1", ""},
		{true, "GET", "/v1.45/images/json", ""},
		{false, "POST", "/v1.45/images/load?quiet=1", ""},
	} {
		s := runtime.Default()
		s.BlockLoad = tt.block
		r := (&Policy{Settings: s}).Decide(&Request{RequestMethod: tt.method, RequestURI: tt.uri})
		if got := map[bool]string{true: "", false: r.Msg}[r.Allow]; got != tt.want || r.Err != "" {
			t.Errorf("block=%v %s %s: allow=%v %q %q, want %q", tt.block, tt.method, tt.uri, r.Allow, r.Msg, r.Err, tt.want)
		}
	}
}

// TestCreateRuntime refuses runtimes other than the hardened one: the
// engine takes containerd shim names without configuration. The
// benchmarks' setting lets exactly one more name through.
func TestCreateRuntime(t *testing.T) {
	bench := runtime.Default()
	bench.BenchmarkRuntime = "runc-plain"
	for _, set := range []struct {
		name    string
		s       runtime.Settings
		allowed map[string]bool
	}{
		{"default", runtime.Default(), map[string]bool{"": true, "hardenvm": true, "runc": false, "runc-plain": false,
			"io.containerd.runc.v2": false, "io.containerd.runsc.v1": false, "crun": false}},
		{"benchmarkPlainRuntime", bench, map[string]bool{"": true, "hardenvm": true, "runc": false, "runc-plain": true,
			"io.containerd.runc.v2": false, "crun": false}},
	} {
		p := &Policy{Settings: set.s, Resolve: func(p string) (string, error) { return p, nil }}
		for rt, allowed := range set.allowed {
			got := p.create([]byte(`{"Image":"bb:1","HostConfig":{"Runtime":"` + rt + `"}}`))
			if got.Allow != allowed {
				t.Errorf("%s: create with runtime %q: %+v, want allowed %v", set.name, rt, got, allowed)
			}
			if !allowed && !strings.Contains(got.Msg, "is not allowed by the admin policy (enhancedContainerIsolation)") {
				t.Errorf("%s: create with runtime %q: message %q", set.name, rt, got.Msg)
			}
		}
	}
}

// TestBuild: a build with the host's network is refused on both builders
// (the classic one, and BuildKit's version=2 behind the session); other
// builds, BuildKit's session and buildx's /grpc pass (the entitlements
// /grpc carries are the engine's to refuse: daemon.json builder).
func TestBuild(t *testing.T) {
	p := &Policy{Settings: runtime.Default()}
	for _, tt := range []struct {
		method, uri string
		refused     bool
	}{
		{"POST", "/v1.41/build?networkmode=host&t=x", true},
		{"POST", "/v1.41/build?buildid=abc&networkmode=host&remote=client-session&session=s1&version=2", true},
		{"POST", "/v1.45/build?networkmode=default&version=2", false},
		{"POST", "/v1.45/build?networkmode=none&version=1", false},
		{"POST", "/v1.45/build?t=x", false},
		{"POST", "/v1.41/session", false},
		{"POST", "/v1.45/grpc", false},
	} {
		r := p.Decide(&Request{RequestMethod: tt.method, RequestURI: tt.uri})
		if r.Allow == tt.refused || (tt.refused && r.Msg != "hardenvm: building with the host's network (--network=host) is not allowed by the admin policy (enhancedContainerIsolation)") {
			t.Errorf("%s %s: allow=%v %q, want refused %v", tt.method, tt.uri, r.Allow, r.Msg, tt.refused)
		}
	}
	if cmd, ok := commandOf("POST", "/grpc", false); !ok || cmd.name != "image build" {
		t.Errorf("commandOf(POST /grpc) = %v, %v; want image build", cmd, ok)
	}
}
