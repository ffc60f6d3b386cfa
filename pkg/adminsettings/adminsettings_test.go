package adminsettings

import (
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func readFull(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/full.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	s, err := Parse(readFull(t))
	if err != nil {
		t.Fatalf("Parse(full.json): %v", err)
	}
	if got := s.Registries(); !slices.Equal(got, []string{"docker.io", "registry.internal:5000"}) {
		t.Errorf("Registries() = %q", got)
	}
	if got := s.Daemon().LogOpts["max-size"]; got != "10m" {
		t.Errorf("log-opts.max-size = %q, want 10m", got)
	}
	b, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	s2, err := Parse(b)
	if err != nil {
		t.Fatalf("Parse(Marshal(s)): %v\n%s", err, b)
	}
	if diff := cmp.Diff(s, s2); diff != "" {
		t.Errorf("round trip (-first +second):\n%s", diff)
	}
	b2, _ := s2.Marshal()
	if string(b) != string(b2) {
		t.Errorf("Marshal is not stable:\n%s\n%s", b, b2)
	}
}

// TestDaemonOptionsString: Docker Desktop writes the daemon options as a
// string holding JSON; it is read like the object form, strictly.
func TestDaemonOptionsString(t *testing.T) {
	in := `{"configurationFileVersion":2,"linuxVM":{"dockerDaemonOptions":{"locked":true,"value":"{\"debug\":true,\"log-level\":\"warn\"}"}}}`
	s, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if d := s.Daemon(); !d.Debug || d.LogLevel != "warn" {
		t.Errorf("Daemon() = %+v, want debug and log-level warn", d)
	}
	bad := `{"configurationFileVersion":2,"linuxVM":{"dockerDaemonOptions":{"locked":true,"value":"{\"data-root\":\"/x\"}"}}}`
	_, err = Parse([]byte(bad))
	if err == nil || !strings.Contains(err.Error(), "linuxVM.dockerDaemonOptions.value.data-root: unknown key") {
		t.Errorf("Parse(string options with data-root) = %v, want an unknown-key error with the path", err)
	}
}

func TestShapeErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"unknown top", `{"configurationFileVersion":2,"analyticsEnabled":{"value":false}}`, "analyticsEnabled: unknown key"},
		{"unknown nested", `{"configurationFileVersion":2,"enhancedContainerIsolation":{"value":true,"dockerSocketMount":{"imageList":{"images":[],"allowDerived":true}}}}`,
			"enhancedContainerIsolation.dockerSocketMount.imageList.allowDerived: unknown key"},
		{"unknown daemon", `{"configurationFileVersion":2,"linuxVM":{"dockerDaemonOptions":{"value":{"tlskey":"/k"}}}}`,
			"linuxVM.dockerDaemonOptions.value.tlskey: unknown key (the image sets it"},
		{"wrong type", `{"configurationFileVersion":2,"exposeDockerAPIOnTCP2375":{"value":"no"}}`, "exposeDockerAPIOnTCP2375.value: want true or false, got a string"},
		{"wrong element", `{"configurationFileVersion":2,"registryAllowList":{"value":["a",3]}}`, "registryAllowList.value[1]: want a string, got a number"},
		{"fraction", `{"configurationFileVersion":2.5}`, "configurationFileVersion: want a whole number, got 2.5"},
		{"null scalar", `{"configurationFileVersion":null}`, "configurationFileVersion: want a whole number, got null"},
		{"duplicate", `{"configurationFileVersion":2,"configurationFileVersion":2}`, "configurationFileVersion: given twice"},
		{"trailing", `{"configurationFileVersion":2} {}`, "trailing data"},
		{"not an object", `[]`, "(top level): want an object, got an array"},
		{"truncated", `{"configurationFileVersion":2,`, "invalid JSON"},
		{"bad map value", `{"configurationFileVersion":2,"linuxVM":{"dockerDaemonOptions":{"value":{"features":{"x":"yes"}}}}}`,
			"linuxVM.dockerDaemonOptions.value.features.x: want true or false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse(%s) = %v, want an error containing %q", tt.in, err, tt.want)
			}
		})
	}
}

// withDaemon returns a valid settings document with the given daemon
// options object.
func withDaemon(opts string) string {
	return `{"configurationFileVersion":2,"registryAllowList":{"value":["docker.io","reg.internal:5000"]},` +
		`"linuxVM":{"dockerDaemonOptions":{"locked":true,"value":` + opts + `}}}`
}

// TestRefusals: every forbidden setting is refused with its key named and
// a reason.
func TestRefusals(t *testing.T) {
	tests := []struct {
		name, in, key, why string
	}{
		{"version", `{"configurationFileVersion":1}`, "configurationFileVersion", "not supported"},
		{"eci off", `{"configurationFileVersion":2,"enhancedContainerIsolation":{"value":false,"locked":true}}`, "enhancedContainerIsolation.value", "cannot be turned off"},
		{"tcp 2375 setting", `{"configurationFileVersion":2,"exposeDockerAPIOnTCP2375":{"value":true,"locked":true}}`, "exposeDockerAPIOnTCP2375.value", "without TLS"},
		{"tcp without tls", withDaemon(`{"hosts":["tcp://0.0.0.0:2376"]}`), daemonKey + "hosts[0]", "tlsverify"},
		{"tcp tls but no verify", withDaemon(`{"hosts":["tcp://0.0.0.0:2376"],"tls":true,"tlsverify":false}`), daemonKey + "hosts[0]", "tlsverify"},
		{"tcp 2375 with tls", withDaemon(`{"hosts":["tcp://0.0.0.0:2375"],"tlsverify":true}`), daemonKey + "hosts[0]", "2375"},
		{"tcp no port", withDaemon(`{"hosts":["tcp://0.0.0.0"],"tlsverify":true}`), daemonKey + "hosts[0]", "port explicitly"},
		{"tls off verify on", withDaemon(`{"tls":false,"tlsverify":true}`), daemonKey + "tls", "cannot be off"},
		{"other unix socket", withDaemon(`{"hosts":["unix:///tmp/docker.sock"]}`), daemonKey + "hosts[0]", "engine socket"},
		{"fd host", withDaemon(`{"hosts":["fd://"]}`), daemonKey + "hosts[0]", "only unix:// and tcp://"},
		{"default runtime", withDaemon(`{"default-runtime":"runc"}`), daemonKey + "default-runtime", "hardened shim"},
		{"extra runtime", withDaemon(`{"runtimes":{"plain":{"path":"/usr/bin/runc"}}}`), daemonKey + "runtimes.plain", "bypass the hardened shim"},
		{"redefine shim", withDaemon(`{"runtimes":{"hardenvm":{"path":"/usr/bin/runc"}}}`), daemonKey + "runtimes.hardenvm", "bypass"},
		{"authz off", withDaemon(`{"authorization-plugins":[]}`), daemonKey + "authorization-plugins", "leaves out"},
		{"authz other", withDaemon(`{"authorization-plugins":["opa"]}`), daemonKey + "authorization-plugins", "leaves out"},
		{"userns-remap", withDaemon(`{"userns-remap":"default"}`), daemonKey + "userns-remap", "refuses --privileged"},
		{"seccomp unconfined", withDaemon(`{"seccomp-profile":"unconfined"}`), daemonKey + "seccomp-profile", "built-in"},
		{"insecure outside", withDaemon(`{"insecure-registries":["evil.example:80"]}`), daemonKey + "insecure-registries[0]", "not on registryAllowList"},
		{"insecure no list", `{"configurationFileVersion":2,"linuxVM":{"dockerDaemonOptions":{"value":{"insecure-registries":["r:5000"]}}}}`, daemonKey + "insecure-registries[0]", "only when"},
		{"mirror http", withDaemon(`{"registry-mirrors":["http://mirror.internal"]}`), daemonKey + "registry-mirrors[0]", "https"},
		{"registry with scheme", `{"configurationFileVersion":2,"registryAllowList":{"value":["https://docker.io"]}}`, "registryAllowList.value[0]", "without scheme"},
		{"command type", `{"configurationFileVersion":2,"enhancedContainerIsolation":{"value":true,"dockerSocketMount":{"commandList":{"type":"maybe","commands":[]}}}}`,
			"enhancedContainerIsolation.dockerSocketMount.commandList.type", "allow or deny"},
		{"empty image", `{"configurationFileVersion":2,"enhancedContainerIsolation":{"value":true,"dockerSocketMount":{"imageList":{"images":[""]}}}}`,
			"enhancedContainerIsolation.dockerSocketMount.imageList.images[0]", "not an image reference"},
		{"proxy mode", `{"configurationFileVersion":2,"proxy":{"mode":"pac"}}`, "proxy.mode", "system or manual"},
		{"proxy url", `{"configurationFileVersion":2,"proxy":{"mode":"manual","http":"proxy:3128"}}`, "proxy.http", "want a URL"},
		{"log level", withDaemon(`{"log-level":"loud"}`), daemonKey + "log-level", "want debug"},
		{"dns not an address", withDaemon(`{"dns":["1.1.1.1\\\"; rm -rf /"]}`), daemonKey + "dns[0]", "is not an IP address"},
		{"dns name", withDaemon(`{"dns":["9.9.9.9","dns.example"]}`), daemonKey + "dns[1]", "is not an IP address"},
		{"share relative", `{"configurationFileVersion":2,"filesharingAllowedDirectories":[{"path":"src"}]}`, "filesharingAllowedDirectories[0].path", "absolute"},
		{"share other variable", `{"configurationFileVersion":2,"filesharingAllowedDirectories":[{"path":"$HOME"},{"path":"$USERPROFILE/x"}]}`, "filesharingAllowedDirectories[1].path", "only variables"},
		{"share whole host", `{"configurationFileVersion":2,"filesharingAllowedDirectories":[{"path":"/"}]}`, "filesharingAllowedDirectories[0].path", "whole host"},
		{"share unclean", `{"configurationFileVersion":2,"filesharingAllowedDirectories":[{"path":"/srv/../etc"}]}`, "filesharingAllowedDirectories[0].path", "clean path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in))
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Parse = %v, want a *ValidationError", err)
			}
			found := false
			for _, p := range ve.Problems {
				if p.Key == tt.key && strings.Contains(p.Why, tt.why) {
					found = true
				}
			}
			if !found {
				t.Errorf("Parse refused %v, want key %s with a reason containing %q", ve.Problems, tt.key, tt.why)
			}
			if !strings.Contains(err.Error(), tt.key+": ") {
				t.Errorf("error %q does not name %s", err, tt.key)
			}
		})
	}
}

func TestAccepted(t *testing.T) {
	for _, in := range []string{
		`{"configurationFileVersion":2}`,
		withDaemon(`{"hosts":["unix:///var/run/docker.sock","tcp://127.0.0.1:2376"],"tls":true,"tlsverify":true}`),
		withDaemon(`{"default-runtime":"hardenvm","authorization-plugins":["hardenvm","other"],"seccomp-profile":"builtin"}`),
		withDaemon(`{"insecure-registries":["reg.internal:5000"]}`),
		`{"configurationFileVersion":2,"filesharingAllowedDirectories":[{"path":"$HOME","sharedByDefault":true},{"path":"$TMP"},{"path":"/srv/data/"}]}`,
	} {
		if _, err := Parse([]byte(in)); err != nil {
			t.Errorf("Parse(%s) = %v, want nil", in, err)
		}
	}
}

func TestDaemonJSON(t *testing.T) {
	s, err := Parse(readFull(t))
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.DaemonJSON()
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"hosts":                 []any{"unix:///run/docker.sock", "tcp://0.0.0.0:2376"},
		"tls":                   true,
		"tlsverify":             true,
		"tlscacert":             "/run/hardenvm/config/tls/ca.pem",
		"tlscert":               "/run/hardenvm/config/tls/server-cert.pem",
		"tlskey":                "/run/hardenvm/config/tls/server-key.pem",
		"default-runtime":       "hardenvm",
		"runtimes":              map[string]any{"hardenvm": map[string]any{"path": "/usr/local/sbin/runc", "runtimeArgs": []any{"--hardenvm-settings", "/run/hardenvm/config/runtime.json"}}},
		"authorization-plugins": []any{"hardenvm"},
		"insecure-registries":   []any{"registry.internal:5000"},
		"proxies":               map[string]any{"http-proxy": "http://proxy.internal:3128", "https-proxy": "http://proxy.internal:3128", "no-proxy": "localhost,10.0.0.0/8"},
		"log-level":             "info",
		"log-opts":              map[string]any{"max-size": "10m"},
		"features":              map[string]any{"containerd-snapshotter": false},
		"live-restore":          true,
		"builder":               map[string]any{"entitlements": map[string]any{"network-host": false, "security-insecure": false}},
	}
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("daemon.json (-want +got):\n%s", diff)
	}
	// The default: unix socket only, no TLS.
	b, err = Default().DaemonJSON()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "tcp://") || strings.Contains(string(b), "tls") {
		t.Errorf("default daemon.json listens on TCP or carries TLS:\n%s", b)
	}
	if Default().NeedsTLS() {
		t.Error("Default().NeedsTLS() = true")
	}
	// Refused settings give no daemon.json.
	bad := Default()
	bad.ExposeDockerAPIOnTCP2375.Value = true
	if _, err := bad.DaemonJSON(); err == nil {
		t.Error("DaemonJSON with exposeDockerAPIOnTCP2375 true succeeded")
	}
}

// TestSchemaFile keeps the JSON Schema for editors equal to the types.
func TestSchemaFile(t *testing.T) {
	got := Schema()
	want, err := os.ReadFile(SchemaFile)
	if err != nil || string(want) != string(got) {
		if os.Getenv("HARDENVM_UPDATE_SCHEMA") == "1" {
			if err := os.WriteFile(SchemaFile, got, 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Errorf("%s is out of date (%v): run HARDENVM_UPDATE_SCHEMA=1 go test ./pkg/adminsettings -run TestSchemaFile", SchemaFile, err)
	}
	var v map[string]any
	if err := json.Unmarshal(got, &v); err != nil {
		t.Fatal(err)
	}
	props := v["properties"].(map[string]any)
	for _, k := range []string{"configurationFileVersion", "enhancedContainerIsolation", "exposeDockerAPIOnTCP2375", "registryAllowList", "proxy", "linuxVM"} {
		if _, ok := props[k]; !ok {
			t.Errorf("schema has no property %s", k)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(string(readFullF(f)))
	f.Add(`{"configurationFileVersion":2}`)
	f.Add(withDaemon(`{"hosts":["tcp://0.0.0.0:2376"],"tlsverify":true}`))
	f.Add(`{"configurationFileVersion":2,"linuxVM":{"dockerDaemonOptions":{"value":"{\"debug\":true}"}}}`)
	f.Fuzz(func(t *testing.T, in string) {
		s, err := Parse([]byte(in))
		if err != nil {
			return
		}
		// Whatever parses must validate, re-encode and parse to the same
		// settings, and give a daemon.json that never exposes plain TCP.
		b, err := s.Marshal()
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		s2, err := Parse(b)
		if err != nil {
			t.Fatalf("Parse(Marshal(Parse(%q))): %v", in, err)
		}
		// Empty and absent lists mean the same (an empty
		// authorization-plugins is refused, so never gets here).
		if diff := cmp.Diff(s, s2, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip of %q:\n%s", in, diff)
		}
		d, err := s.DaemonJSON()
		if err != nil {
			t.Fatalf("DaemonJSON of valid settings: %v", err)
		}
		var dj struct {
			Hosts     []string `json:"hosts"`
			TLSVerify bool     `json:"tlsverify"`
			Default   string   `json:"default-runtime"`
			Runtimes  map[string]any
			Authz     []string `json:"authorization-plugins"`
			Userns    string   `json:"userns-remap"`
		}
		if err := json.Unmarshal(d, &dj); err != nil {
			t.Fatal(err)
		}
		for _, h := range dj.Hosts {
			if strings.HasPrefix(h, "tcp://") && (!dj.TLSVerify || strings.HasSuffix(h, ":2375")) {
				t.Fatalf("daemon.json of %q serves %s without TLS verification", in, h)
			}
		}
		// Only the benchmarks' setting adds a runtime, and only its own.
		extra := 0
		if s.BenchmarkRuntime() != "" {
			extra = 1
		}
		if dj.Default != RuntimeName || len(dj.Runtimes) != 1+extra || !slices.Contains(dj.Authz, AuthzPlugin) || dj.Userns != "" {
			t.Fatalf("daemon.json of %q weakens the runtime: %s", in, d)
		}
	})
}

func readFullF(f *testing.F) []byte {
	b, err := os.ReadFile("testdata/full.json")
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// TestShareAllowed: filesharingAllowedDirectories allows its directories
// and everything under them, with $HOME, $TMP and $TEMP taken from the
// host; without the key every directory may be shared.
func TestShareAllowed(t *testing.T) {
	s, err := Parse([]byte(`{"configurationFileVersion":2,"filesharingAllowedDirectories":[` +
		`{"path":"$HOME/src","sharedByDefault":true},{"path":"$TMP"},{"path":"/srv/data/"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	h := HostDirs{Home: "/home/alice", Temp: "/tmp"}
	if diff := cmp.Diff([]string{"/home/alice/src", "/tmp", "/srv/data"}, s.AllowedShareDirs(h)); diff != "" {
		t.Errorf("AllowedShareDirs (-want +got):\n%s", diff)
	}
	tests := []struct {
		dir  string
		h    HostDirs
		want bool
	}{
		{"/home/alice/src", h, true},
		{"/home/alice/src/app", h, true},
		{"/home/alice/srcx", h, false},
		{"/home/alice", h, false},
		{"/tmp/TestX/001", h, true},
		{"/srv/data", h, true},
		{"/srv", h, false},
		{"/etc", h, false},
		// A variable the host could not fill allows nothing.
		{"/home/alice/src", HostDirs{Temp: "/tmp"}, false},
	}
	for _, tt := range tests {
		if got := s.ShareAllowed(tt.dir, tt.h); got != tt.want {
			t.Errorf("ShareAllowed(%q, %+v) = %v, want %v", tt.dir, tt.h, got, tt.want)
		}
	}
	if !Default().ShareAllowed("/anything", h) || Default().AllowedShareDirs(h) != nil {
		t.Error("without filesharingAllowedDirectories a share was refused")
	}
}

// TestExtensionsOffByDefault: nesting without --privileged and the
// benchmarks' plain runtime are off unless the admin turns them on, and
// only benchmarkPlainRuntime adds a runtime to daemon.json.
func TestExtensionsOffByDefault(t *testing.T) {
	tests := []struct {
		name         string
		in           string
		nesting      bool
		runtime      string
		wantRuntimes []string
	}{
		{"default", `{"configurationFileVersion":2}`, false, "", []string{"hardenvm"}},
		{"off", `{"configurationFileVersion":2,"nestingWithoutPrivileged":{"value":false,"locked":true},"benchmarkPlainRuntime":{"value":false,"locked":true}}`, false, "", []string{"hardenvm"}},
		{"nesting", `{"configurationFileVersion":2,"nestingWithoutPrivileged":{"value":true,"locked":true}}`, true, "", []string{"hardenvm"}},
		{"benchmark", `{"configurationFileVersion":2,"benchmarkPlainRuntime":{"value":true,"locked":true}}`, false, "runc-plain", []string{"hardenvm", "runc-plain"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if s.Nesting() != tt.nesting || s.BenchmarkRuntime() != tt.runtime {
				t.Errorf("Nesting() = %v, BenchmarkRuntime() = %q; want %v, %q", s.Nesting(), s.BenchmarkRuntime(), tt.nesting, tt.runtime)
			}
			b, err := s.DaemonJSON()
			if err != nil {
				t.Fatal(err)
			}
			var d struct {
				DefaultRuntime string             `json:"default-runtime"`
				Runtimes       map[string]Runtime `json:"runtimes"`
			}
			if err := json.Unmarshal(b, &d); err != nil {
				t.Fatal(err)
			}
			if got := sortedKeys(d.Runtimes); !slices.Equal(got, tt.wantRuntimes) || d.DefaultRuntime != RuntimeName {
				t.Errorf("daemon.json runtimes %v (default %q), want %v (default %q)", got, d.DefaultRuntime, tt.wantRuntimes, RuntimeName)
			}
			if r, ok := d.Runtimes[BenchmarkRuntimeName]; ok && (r.Path != RealRuntimePath || len(r.RuntimeArgs) != 0) {
				t.Errorf("%s = %+v, want the real runc %s without arguments", BenchmarkRuntimeName, r, RealRuntimePath)
			}
		})
	}
}
