package adminsettings

// Version is the only configurationFileVersion understood.
const Version = 2

// Settings is admin-settings.json.
type Settings struct {
	ConfigurationFileVersion   int          `json:"configurationFileVersion"`
	EnhancedContainerIsolation *ECI         `json:"enhancedContainerIsolation,omitempty"`
	ExposeDockerAPIOnTCP2375   *BoolSetting `json:"exposeDockerAPIOnTCP2375,omitempty"`
	RegistryAllowList          *ListSetting `json:"registryAllowList,omitempty"`
	// BlockDockerLoad refuses docker load and docker import: images
	// then come only from registries (and the registry allow-list).
	BlockDockerLoad *BoolSetting `json:"blockDockerLoad,omitempty"`
	Proxy           *Proxy       `json:"proxy,omitempty"`
	LinuxVM         *LinuxVM     `json:"linuxVM,omitempty"`
	// FilesharingAllowedDirectories limits the host directories a user
	// may share with the VM (hardenvm run --share); absent allows any.
	FilesharingAllowedDirectories []SharedDirectory `json:"filesharingAllowedDirectories,omitempty"`
	// NestingWithoutPrivileged lets containers run Docker-in-Docker and
	// systemd without --privileged, as Sysbox and ECI do (the runtime's
	// nesting setting). Off by default.
	NestingWithoutPrivileged *BoolSetting `json:"nestingWithoutPrivileged,omitempty"`
	// BenchmarkPlainRuntime is for benchmarks only: it adds the engine
	// runtime BenchmarkRuntimeName, the real runc without any of the
	// hardened runtime's policy, so that one VM can time both side by
	// side. Off by default; never in a product config.
	BenchmarkPlainRuntime *BoolSetting `json:"benchmarkPlainRuntime,omitempty"`
}

// BoolSetting is a Docker Desktop on/off setting.
type BoolSetting struct {
	Value  bool `json:"value"`
	Locked bool `json:"locked"`
}

// ListSetting is a list-valued setting.
type ListSetting struct {
	Value  []string `json:"value"`
	Locked bool     `json:"locked"`
}

// ECI is enhancedContainerIsolation. In a hardenvm VM the hardened runtime
// is always the engine's runtime: value false is refused.
type ECI struct {
	Value             bool         `json:"value"`
	Locked            bool         `json:"locked"`
	DockerSocketMount *SocketMount `json:"dockerSocketMount,omitempty"`
}

// SocketMount is enhancedContainerIsolation.dockerSocketMount.
type SocketMount struct {
	ImageList   *ImageList   `json:"imageList,omitempty"`
	CommandList *CommandList `json:"commandList,omitempty"`
}

// ImageList are the images that may mount the engine socket.
type ImageList struct {
	Images             []string `json:"images"`
	AllowDerivedImages bool     `json:"allowDerivedImages"`
}

// CommandList allows or denies engine API commands.
type CommandList struct {
	Type     string   `json:"type"` // "allow" or "deny"
	Commands []string `json:"commands"`
}

// Proxy is the engine's HTTP proxy.
type Proxy struct {
	Locked  bool     `json:"locked"`
	Mode    string   `json:"mode,omitempty"` // "system" (none in the VM) or "manual"
	HTTP    string   `json:"http,omitempty"`
	HTTPS   string   `json:"https,omitempty"`
	Exclude []string `json:"exclude,omitempty"`
}

// LinuxVM holds the engine options.
type LinuxVM struct {
	DockerDaemonOptions *DaemonOptionsSetting `json:"dockerDaemonOptions,omitempty"`
}

// DaemonOptionsSetting is linuxVM.dockerDaemonOptions.
type DaemonOptionsSetting struct {
	Locked bool          `json:"locked"`
	Value  DaemonOptions `json:"value"`
}

// DaemonOptions is the daemon.json subset an admin may set. Everything the
// image fixes (data root, runtimes, TLS file paths, the authorization
// plugin, the engine socket) is absent on purpose: setting it is an
// unknown-key error, or refused by Validate with the reason.
type DaemonOptions struct {
	Hosts                  []string           `json:"hosts,omitempty"`
	TLS                    *bool              `json:"tls,omitempty"`
	TLSVerify              *bool              `json:"tlsverify,omitempty"`
	DefaultRuntime         string             `json:"default-runtime,omitempty"`
	Runtimes               map[string]Runtime `json:"runtimes,omitempty"`
	AuthorizationPlugins   []string           `json:"authorization-plugins,omitempty"`
	UsernsRemap            string             `json:"userns-remap,omitempty"`
	SeccompProfile         string             `json:"seccomp-profile,omitempty"`
	InsecureRegistries     []string           `json:"insecure-registries,omitempty"`
	RegistryMirrors        []string           `json:"registry-mirrors,omitempty"`
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
}

// Runtime is an entry of daemon.json's runtimes.
type Runtime struct {
	Path        string   `json:"path"`
	RuntimeArgs []string `json:"runtimeArgs,omitempty"`
}

// AddressPool is an entry of default-address-pools.
type AddressPool struct {
	Base string `json:"base"`
	Size int    `json:"size"`
}

// Default is what an image without admin settings gets: the hardened
// runtime, the engine on its unix socket only, every registry allowed.
func Default() Settings {
	return Settings{
		ConfigurationFileVersion:   Version,
		EnhancedContainerIsolation: &ECI{Value: true, Locked: true},
		ExposeDockerAPIOnTCP2375:   &BoolSetting{Value: false, Locked: true},
	}
}

// Nesting reports whether containers may nest without --privileged.
func (s Settings) Nesting() bool {
	return s.NestingWithoutPrivileged != nil && s.NestingWithoutPrivileged.Value
}

// BenchmarkRuntime returns the runtime name benchmarks may ask for ("":
// none, the default).
func (s Settings) BenchmarkRuntime() string {
	if s.BenchmarkPlainRuntime != nil && s.BenchmarkPlainRuntime.Value {
		return BenchmarkRuntimeName
	}
	return ""
}

// Daemon returns the engine options (empty when not set).
func (s Settings) Daemon() DaemonOptions {
	if s.LinuxVM == nil || s.LinuxVM.DockerDaemonOptions == nil {
		return DaemonOptions{}
	}
	return s.LinuxVM.DockerDaemonOptions.Value
}

// Registries returns the registry allow-list (nil: every registry).
func (s Settings) Registries() []string {
	if s.RegistryAllowList == nil {
		return nil
	}
	return s.RegistryAllowList.Value
}

// SocketImages returns the images allowed to mount the engine socket.
func (s Settings) SocketImages() []string {
	if m := s.socketMount(); m != nil && m.ImageList != nil {
		return m.ImageList.Images
	}
	return nil
}

// Commands returns the engine command list (nil when not set).
func (s Settings) Commands() *CommandList {
	if m := s.socketMount(); m != nil {
		return m.CommandList
	}
	return nil
}

func (s Settings) socketMount() *SocketMount {
	if s.EnhancedContainerIsolation == nil {
		return nil
	}
	return s.EnhancedContainerIsolation.DockerSocketMount
}
