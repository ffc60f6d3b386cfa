package adminsettings

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// MaxRegistries bounds the registry allow-list (Docker's Registry Access
// Management allows 100).
const MaxRegistries = 100

// Problem is one refused setting: the key path and why.
type Problem struct {
	Key string
	Why string
}

func (p Problem) String() string { return p.Key + ": " + p.Why }

// ValidationError lists every refused setting.
type ValidationError struct{ Problems []Problem }

func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("admin settings refused: ")
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// Keys returns the refused keys, in order.
func (e *ValidationError) Keys() []string {
	var out []string
	for _, p := range e.Problems {
		out = append(out, p.Key)
	}
	return out
}

const daemonKey = "linuxVM.dockerDaemonOptions.value."

// Validate refuses settings that would expose the engine on TCP without
// TLS client verification or defeat the hardened runtime. It returns a
// *ValidationError listing every problem, or nil.
func (s Settings) Validate() error {
	var ps []Problem
	add := func(key, format string, args ...any) {
		ps = append(ps, Problem{key, fmt.Sprintf(format, args...)})
	}
	if s.ConfigurationFileVersion != Version {
		add("configurationFileVersion", "%d is not supported: want %d", s.ConfigurationFileVersion, Version)
	}
	if e := s.EnhancedContainerIsolation; e != nil {
		if !e.Value {
			add("enhancedContainerIsolation.value", "false is not allowed: the hardened runtime isolates every container in this VM and cannot be turned off")
		}
		if m := e.DockerSocketMount; m != nil {
			if l := m.ImageList; l != nil {
				for i, im := range l.Images {
					if strings.TrimSpace(im) == "" || strings.ContainsAny(im, " \t\n") {
						add(fmt.Sprintf("enhancedContainerIsolation.dockerSocketMount.imageList.images[%d]", i),
							"%q is not an image reference (name, name:tag, name:*, name@sha256:…, or *)", im)
					}
				}
			}
			if c := m.CommandList; c != nil {
				if c.Type != "allow" && c.Type != "deny" {
					add("enhancedContainerIsolation.dockerSocketMount.commandList.type", "%q: want allow or deny", c.Type)
				}
				for i, cmd := range c.Commands {
					if cmd == "" || strings.ContainsAny(cmd, " \t\n") {
						add(fmt.Sprintf("enhancedContainerIsolation.dockerSocketMount.commandList.commands[%d]", i),
							"%q is not a command name (like push, image*, container*)", cmd)
					}
				}
			}
		}
	}
	if e := s.ExposeDockerAPIOnTCP2375; e != nil && e.Value {
		add("exposeDockerAPIOnTCP2375.value", "true is not allowed: it serves the engine API on TCP port 2375 without TLS, so anyone who reaches the port controls the engine; use a tcp:// host with tlsverify in the daemon options")
	}
	regs := s.Registries()
	if len(regs) > MaxRegistries {
		add("registryAllowList.value", "%d registries: at most %d", len(regs), MaxRegistries)
	}
	for i, r := range regs {
		if why := checkRegistry(r); why != "" {
			add(fmt.Sprintf("registryAllowList.value[%d]", i), "%q %s", r, why)
		}
	}
	if p := s.Proxy; p != nil {
		switch p.Mode {
		case "", "system":
			if p.HTTP != "" || p.HTTPS != "" {
				add("proxy.mode", "%q with proxy addresses set: want manual (the VM has no system proxy to follow)", p.Mode)
			}
		case "manual":
			if p.HTTP == "" && p.HTTPS == "" {
				add("proxy.mode", "manual without proxy.http or proxy.https")
			}
		default:
			add("proxy.mode", "%q: want system or manual", p.Mode)
		}
		for _, f := range []struct{ key, v string }{{"proxy.http", p.HTTP}, {"proxy.https", p.HTTPS}} {
			if f.v == "" {
				continue
			}
			if u, err := url.Parse(f.v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				add(f.key, "%q: want a URL like http://proxy.example:3128", f.v)
			}
		}
		for i, x := range p.Exclude {
			if strings.TrimSpace(x) == "" || strings.Contains(x, ",") {
				add(fmt.Sprintf("proxy.exclude[%d]", i), "%q: want one host, domain or CIDR per entry", x)
			}
		}
	}
	ps = append(ps, validateSharing(s.FilesharingAllowedDirectories)...)
	ps = append(ps, validateDaemon(s.Daemon(), regs)...)
	if len(ps) > 0 {
		return &ValidationError{Problems: ps}
	}
	return nil
}

// checkRegistry says what is wrong with a registry allow-list entry.
func checkRegistry(r string) string {
	if r == "" {
		return "is empty"
	}
	if strings.Contains(r, "://") || strings.ContainsAny(r, "/ \t@") {
		return "is not a registry host: want host or host:port, without scheme or path"
	}
	if h, p, err := net.SplitHostPort(r); err == nil {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 || h == "" {
			return "has a bad port"
		}
	}
	return ""
}

func validateDaemon(d DaemonOptions, regs []string) []Problem {
	var ps []Problem
	add := func(key, format string, args ...any) {
		ps = append(ps, Problem{daemonKey + key, fmt.Sprintf(format, args...)})
	}
	verify := d.TLSVerify != nil && *d.TLSVerify
	if d.TLS != nil && !*d.TLS && verify {
		add("tls", "false together with tlsverify true: TLS cannot be off when clients are verified")
	}
	for i, h := range d.Hosts {
		key := fmt.Sprintf("hosts[%d]", i)
		u, err := url.Parse(h)
		if err != nil {
			add(key, "%q is not a host address: %v", h, err)
			continue
		}
		switch u.Scheme {
		case "unix":
			if p := u.Host + u.Path; !slices.Contains(EngineSockets, p) {
				add(key, "%q: the engine socket must be one of %s (the hardened runtime keeps containers from mounting those, not other paths)",
					h, strings.Join(EngineSockets, ", "))
			}
		case "tcp":
			host, port, err := net.SplitHostPort(u.Host)
			switch {
			case err != nil || port == "":
				add(key, "%q: give the port explicitly (dockerd's default for a bare tcp:// host is the plain-text 2375)", h)
			case port == "2375":
				add(key, "%q: port 2375 is the engine's unauthenticated plain-text port; serve TLS on another port, like 2376", h)
			case !verify:
				add(key, "%q: a TCP host needs tlsverify true: without TLS client verification anyone who reaches the port controls the engine", h)
			default:
				if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
					add(key, "%q: bad port", h)
				}
			}
			_ = host
		default:
			add(key, "%q: only unix:// and tcp:// hosts are supported", h)
		}
	}
	if d.DefaultRuntime != "" && d.DefaultRuntime != RuntimeName {
		add("default-runtime", "%q: the default runtime is the hardened shim %q; any other would run containers without its isolation", d.DefaultRuntime, RuntimeName)
	}
	for _, name := range sortedKeys(d.Runtimes) {
		add("runtimes."+name, "extra runtimes are not allowed: %q would let containers bypass the hardened shim (the image defines the only runtime, %q)", name, RuntimeName)
	}
	if d.AuthorizationPlugins != nil && !slices.Contains(d.AuthorizationPlugins, AuthzPlugin) {
		add("authorization-plugins", "%q leaves out the %q plugin, which enforces the socket allow-list, commandList and registry allow-list", d.AuthorizationPlugins, AuthzPlugin)
	}
	if d.UsernsRemap != "" {
		add("userns-remap", "%q: dockerd's userns-remap gives every container one shared mapping and refuses --privileged; the hardened shim gives each container its own user namespace instead", d.UsernsRemap)
	}
	if d.SeccompProfile != "" && d.SeccompProfile != "builtin" {
		add("seccomp-profile", "%q: only the built-in profile is allowed (unconfined or a custom file would widen the kernel surface of every container)", d.SeccompProfile)
	}
	for i, r := range d.InsecureRegistries {
		key := fmt.Sprintf("insecure-registries[%d]", i)
		switch {
		case len(regs) == 0:
			add(key, "%q: insecure (plain HTTP or unverified TLS) registries are allowed only when they are on registryAllowList", r)
		case !slices.Contains(regs, r):
			add(key, "%q is not on registryAllowList: an insecure registry must also be allowed", r)
		}
	}
	for i, m := range d.RegistryMirrors {
		if u, err := url.Parse(m); err != nil || u.Scheme != "https" || u.Host == "" {
			add(fmt.Sprintf("registry-mirrors[%d]", i), "%q: want an https:// URL", m)
		}
	}
	for i, a := range d.DNS {
		// dockerd wants IP addresses and refuses the rest at start-up,
		// after the config is signed and the VM booted: refuse them here.
		if _, err := netip.ParseAddr(a); err != nil {
			add(fmt.Sprintf("dns[%d]", i), "%q is not an IP address", a)
		}
	}
	switch d.LogLevel {
	case "", "debug", "info", "warn", "error", "fatal":
	default:
		add("log-level", "%q: want debug, info, warn, error or fatal", d.LogLevel)
	}
	if d.MTU < 0 || d.MaxConcurrentDownloads < 0 || d.MaxConcurrentUploads < 0 {
		add("mtu", "negative numbers are not allowed (mtu, max-concurrent-downloads, max-concurrent-uploads)")
	}
	return ps
}

// TCPHosts returns the daemon options' tcp:// hosts (each needs the TLS
// material).
func (d DaemonOptions) TCPHosts() []string {
	var out []string
	for _, h := range d.Hosts {
		if strings.HasPrefix(h, "tcp://") {
			out = append(out, h)
		}
	}
	return out
}
