package egress

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hardenvm/hardenvm/pkg/runtime"
)

// AllowList is registryAllowList as the filter reads it: entries "host"
// or "host:port" (names or IP literals, "[v6]:port"), and "docker.io"
// for Docker Hub. An entry without a port allows the registry's default
// ports, 443 and 80, as an image reference without a port means them;
// "host:5000" is another registry, as it is for docker.
type AllowList []string

// hubHosts are the registry hosts behind the reference name docker.io.
var hubHosts = []string{"registry-1.docker.io", "index.docker.io"}

// Listed reports whether host:port is on the list.
func (a AllowList) Listed(host string, port int) bool {
	host = normalHost(host)
	for _, e := range a {
		h, p := splitHostPort(strings.TrimSpace(e), 0)
		hosts := []string{h}
		if h == "docker.io" {
			hosts = append(hosts, hubHosts...)
		}
		if !slices.Contains(hosts, host) {
			continue
		}
		if p == port || (p == 0 && (port == 443 || port == 80)) {
			return true
		}
	}
	return false
}

// Target is where a connection goes, as the filter judges it.
type Target struct {
	// Addr is the address the client connected to (its original
	// destination): the server, or the HTTP proxy when Via is set.
	Addr netip.AddrPort
	// Name and Port are the server the client names (Hello.Host, or
	// Addr's IP when it named none) and its port.
	Name string
	Port int
	// TLS says whether the client speaks TLS to that server.
	TLS bool
	// Via is set when Addr is an HTTP proxy and Name:Port its target.
	Via bool
}

// String is host:port of the named server.
func (t Target) String() string {
	return joinHostPort(t.Name, t.Port)
}

func joinHostPort(h string, p int) string {
	if strings.Contains(h, ":") {
		h = "[" + h + "]"
	}
	return fmt.Sprintf("%s:%d", h, p)
}

// TargetOf is the target of a connection to dst that began with h.
func TargetOf(dst netip.AddrPort, h Hello) Target {
	t := Target{Addr: dst, Name: h.Host, Port: int(dst.Port()), TLS: h.Kind == TLS}
	if h.Proxied {
		t.Port, t.TLS, t.Via = h.Port, h.TargetTLS, true
	}
	if t.Name == "" {
		t.Name = dst.Addr().Unmap().String()
	}
	return t
}

// Refusal is the line a refused client is shown.
func Refusal(t Target) string {
	return (&runtime.Refusal{What: "registry " + t.String(), Key: runtime.KeyRegistries}).Error()
}

// Decider judges connections. Resolve looks a name up (the VM's
// resolver); IsRegistry asks a target whether it is a registry (Prober).
type Decider struct {
	Allow      AllowList
	Resolve    func(ctx context.Context, host string) ([]netip.Addr, error)
	IsRegistry func(ctx context.Context, t Target) bool
	// TTL is how long an answer of IsRegistry is kept (DefaultTTL).
	TTL time.Duration
	Now func() time.Time

	mu    sync.Mutex
	cache map[Target]probed
}

type probed struct {
	registry bool
	at       time.Time
}

// DefaultTTL keeps probe answers for ten minutes: a server does not
// become a registry often, and each new probe costs the client a
// round trip or two.
const DefaultTTL = 10 * time.Minute

// Allowed reports whether a connection to dst that began with h may
// pass; when not, why is the refusal line.
func (d *Decider) Allowed(ctx context.Context, dst netip.AddrPort, h Hello) (ok bool, why string) {
	if h.Kind == Opaque {
		return true, ""
	}
	t := TargetOf(dst, h)
	if d.Allow.Listed(t.Name, t.Port) && d.namesAddr(ctx, t) {
		return true, ""
	}
	if d.registry(ctx, t) {
		return false, Refusal(t)
	}
	return true, ""
}

// namesAddr reports whether t's name is the address the client connected
// to: an IP literal that is it, a name that resolves to it, or any name
// through a proxy (which resolves it itself).
func (d *Decider) namesAddr(ctx context.Context, t Target) bool {
	if t.Via {
		return true
	}
	want := t.Addr.Addr().Unmap()
	if ip, err := netip.ParseAddr(t.Name); err == nil {
		return ip.Unmap() == want
	}
	if d.Resolve == nil {
		return false
	}
	addrs, err := d.Resolve(ctx, t.Name)
	if err != nil {
		return false
	}
	return slices.ContainsFunc(addrs, func(a netip.Addr) bool { return a.Unmap() == want })
}

func (d *Decider) registry(ctx context.Context, t Target) bool {
	now := time.Now
	if d.Now != nil {
		now = d.Now
	}
	ttl := d.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	key := t
	key.TLS = false // the prober tries both
	d.mu.Lock()
	p, ok := d.cache[key]
	d.mu.Unlock()
	if ok && now().Sub(p.at) < ttl {
		return p.registry
	}
	reg := d.IsRegistry != nil && d.IsRegistry(ctx, t)
	d.mu.Lock()
	if d.cache == nil {
		d.cache = map[Target]probed{}
	}
	d.cache[key] = probed{registry: reg, at: now()}
	d.mu.Unlock()
	return reg
}
