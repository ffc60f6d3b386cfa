package adminsettings

import (
	"encoding/json"
	"fmt"
	"strings"
)

// daemonJSON is the daemon.json the engine starts with. Field order is
// the output order; everything is derived from the settings.
type daemonJSON struct {
	Hosts                  []string           `json:"hosts"`
	TLS                    bool               `json:"tls,omitempty"`
	TLSVerify              bool               `json:"tlsverify,omitempty"`
	TLSCACert              string             `json:"tlscacert,omitempty"`
	TLSCert                string             `json:"tlscert,omitempty"`
	TLSKey                 string             `json:"tlskey,omitempty"`
	DefaultRuntime         string             `json:"default-runtime"`
	Runtimes               map[string]Runtime `json:"runtimes"`
	AuthorizationPlugins   []string           `json:"authorization-plugins"`
	SeccompProfile         string             `json:"seccomp-profile,omitempty"`
	InsecureRegistries     []string           `json:"insecure-registries,omitempty"`
	RegistryMirrors        []string           `json:"registry-mirrors,omitempty"`
	Proxies                *proxies           `json:"proxies,omitempty"`
	Debug                  bool               `json:"debug,omitempty"`
	LogLevel               string             `json:"log-level,omitempty"`
	LogDriver              string             `json:"log-driver,omitempty"`
	LogOpts                map[string]string  `json:"log-opts,omitempty"`
	DNS                    []string           `json:"dns,omitempty"`
	MTU                    int                `json:"mtu,omitempty"`
	BIP                    string             `json:"bip,omitempty"`
	DefaultAddressPools    []AddressPool      `json:"default-address-pools,omitempty"`
	MaxConcurrentDownloads int                `json:"max-concurrent-downloads,omitempty"`
	MaxConcurrentUploads   int                `json:"max-concurrent-uploads,omitempty"`
	LiveRestore            bool               `json:"live-restore,omitempty"`
	ICC                    *bool              `json:"icc,omitempty"`
	Features               map[string]bool    `json:"features,omitempty"`
	Experimental           bool               `json:"experimental,omitempty"`
	NoNewPrivileges        bool               `json:"no-new-privileges,omitempty"`
	Builder                builder            `json:"builder"`
}

// builder is daemon.json's BuildKit section: the entitlements a build may
// be granted. A build asks for them over the engine's /grpc endpoint
// (buildx) inside a stream the authorization plugin never sees, so the
// engine itself must refuse them: network.host (the VM's network
// namespace) and security.insecure (a privileged build container).
type builder struct {
	Entitlements struct {
		NetworkHost      bool `json:"network-host"`
		SecurityInsecure bool `json:"security-insecure"`
	} `json:"entitlements"`
}

type proxies struct {
	HTTP    string `json:"http-proxy,omitempty"`
	HTTPS   string `json:"https-proxy,omitempty"`
	NoProxy string `json:"no-proxy,omitempty"`
}

// NeedsTLS reports whether the engine listens on TCP, so the config
// partition must carry its TLS server material.
func (s Settings) NeedsTLS() bool { return len(s.Daemon().TCPHosts()) > 0 }

// DaemonJSON returns the engine's daemon.json for valid settings: the
// unix socket plus the admin's hosts, TLS with client verification for
// TCP (certificates in the config partition), the hardened shim as the
// only and default runtime (with its settings file in the config
// partition), the authorization plugin, BuildKit without the
// network.host and security.insecure entitlements, the proxy and the
// remaining engine options (and, for benchmarks only, the plain runtime
// of benchmarkPlainRuntime). dockerd reads it with --config-file and no other flags.
func (s Settings) DaemonJSON() ([]byte, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	d := s.Daemon()
	out := daemonJSON{
		Hosts:          []string{"unix://" + EngineSockets[0]},
		DefaultRuntime: RuntimeName,
		Runtimes: map[string]Runtime{RuntimeName: {Path: ShimPath,
			RuntimeArgs: []string{"--hardenvm-settings", InConfig(RuntimeFile)}}},
		AuthorizationPlugins: []string{AuthzPlugin},
		SeccompProfile:       d.SeccompProfile,
		InsecureRegistries:   d.InsecureRegistries,
		RegistryMirrors:      d.RegistryMirrors,
		Debug:                d.Debug, LogLevel: d.LogLevel, LogDriver: d.LogDriver, LogOpts: d.LogOpts,
		DNS: d.DNS, MTU: d.MTU, BIP: d.BIP, DefaultAddressPools: d.DefaultAddressPools,
		MaxConcurrentDownloads: d.MaxConcurrentDownloads, MaxConcurrentUploads: d.MaxConcurrentUploads,
		LiveRestore: d.LiveRestore, ICC: d.ICC, Features: d.Features, Experimental: d.Experimental,
		NoNewPrivileges: d.NoNewPrivileges,
	}
	for _, h := range d.Hosts {
		if h != out.Hosts[0] {
			out.Hosts = append(out.Hosts, h)
		}
	}
	for _, p := range d.AuthorizationPlugins {
		if p != AuthzPlugin {
			out.AuthorizationPlugins = append(out.AuthorizationPlugins, p)
		}
	}
	if s.BenchmarkRuntime() != "" {
		out.Runtimes[BenchmarkRuntimeName] = Runtime{Path: RealRuntimePath}
	}
	if s.NeedsTLS() {
		out.TLS, out.TLSVerify = true, true
		out.TLSCACert, out.TLSCert, out.TLSKey = InConfig(CAFile), InConfig(ServerCertFile), InConfig(ServerKeyFile)
	}
	if p := s.Proxy; p != nil && p.Mode == "manual" {
		out.Proxies = &proxies{HTTP: p.HTTP, HTTPS: p.HTTPS, NoProxy: strings.Join(p.Exclude, ",")}
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("admin settings: BUG: encoding daemon.json: %w", err)
	}
	return append(b, '\n'), nil
}

// Marshal encodes the settings canonically (indented, the daemon options
// as an object, trailing newline).
func (s Settings) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("admin settings: %w", err)
	}
	return append(b, '\n'), nil
}
