package authz

import (
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hardenvm/hardenvm/pkg/runtime"
)

// Policy decides engine API calls from the admin settings.
type Policy struct {
	Settings runtime.Settings
	// Image returns the engine's record of an image (by name or ID); the
	// socket allow-list is checked against its ID and pulled digests.
	Image func(ref string) (*runtime.Image, error)
	// Resolve resolves bind mount sources (symlinks, ".."); nil means the
	// host's filesystem.
	Resolve func(string) (string, error)
}

func deny(err error) Response { return Response{Allow: false, Msg: err.Error()} }

func refuse(key, format string, args ...any) Response {
	return deny(&runtime.Refusal{What: fmt.Sprintf(format, args...), Key: key})
}

// Decide answers one AuthZReq.
func (p *Policy) Decide(req *Request) Response {
	u, err := url.ParseRequestURI(req.RequestURI)
	if err != nil {
		return Response{Err: fmt.Sprintf("hardenvm authz: request URI %q: %v", req.RequestURI, err)}
	}
	path := stripVersion(u.Path)
	q := u.Query()
	method := strings.ToUpper(req.RequestMethod)
	if (method == "GET" || method == "HEAD") && (path == "/_ping" || path == "/version") {
		return Response{Allow: true} // the client's handshake
	}
	cmd, known := commandOf(method, path, q.Get("fromSrc") != "")
	if known && strings.HasPrefix(cmd.name, "plugin ") && cmd.name != "plugin ls" && cmd.name != "plugin rm" && cmd.name != "plugin enable" {
		return refuse(runtime.KeyECI, "installing or changing engine plugins (%s)", cmd.name)
	}
	if r, ok := p.commandList(cmd, known, method, req.RequestURI); !ok {
		return r
	}
	switch {
	case p.Settings.BlockLoad && (cmd.name == "image load" || cmd.name == "image import"):
		return refuse(runtime.KeyBlockLoad, "%s (images come from registries only)", map[string]string{"image load": "docker load", "image import": "docker import"}[cmd.name])
	case cmd.name == "image pull":
		return p.pull(q.Get("fromImage"))
	case cmd.name == "image build" && path == "/build":
		if nm := q.Get("networkmode"); nm == "host" {
			return refuse(runtime.KeyECI, "building with the host's network (--network=host)")
		}
	case cmd.name == "container create":
		return p.create(req.RequestBody)
	case cmd.name == "volume create":
		return p.volume(req.RequestBody)
	}
	return Response{Allow: true}
}

func (p *Policy) commandList(cmd command, known bool, method, uri string) (Response, bool) {
	cl := p.Settings.CommandList
	if len(cl.Commands) == 0 || cl.Type == "" {
		return Response{}, true
	}
	listed := known && slices.ContainsFunc(cl.Commands, cmd.matches)
	name := cmd.name
	if !known {
		name = "unknown"
	}
	if (cl.Type == "deny" && listed) || (cl.Type == "allow" && !listed) {
		return refuse(runtime.KeyCommandList, "docker command %q (%s %s)", name, method, uri), false
	}
	return Response{}, true
}

func (p *Policy) pull(ref string) Response {
	allow := p.Settings.RegistryAllowList
	if len(allow) == 0 {
		return Response{Allow: true}
	}
	reg := runtime.RegistryOf(ref)
	for _, a := range allow {
		if strings.EqualFold(strings.TrimSpace(a), reg) || (reg == "docker.io" && slices.Contains([]string{"index.docker.io", "registry-1.docker.io", "hub.docker.com"}, strings.TrimSpace(a))) {
			return Response{Allow: true}
		}
	}
	return refuse(runtime.KeyRegistries, "pulling %s from registry %s", ref, reg)
}

// createBody is the part of POST /containers/create the policy reads.
type createBody struct {
	Image      string
	HostConfig struct {
		Binds   []string
		Mounts  []struct{ Type, Source string }
		Runtime string
	}
}

// Runtimes are the runtime names a container may ask for: the engine's
// default (the hardened shim) and its name. Every other name runs the
// real runc: the engine's reserved "runc" (its containerd shim finds
// runc on its own; tried in the desktop VM: uid_map "0 0 4294967295"),
// and containerd shim names (io.containerd.runc.v2), which the engine
// takes without configuration. Such a container would have no user
// namespace and none of the policy. Settings.BenchmarkRuntime, for
// benchmarks only, names one more.
var Runtimes = []string{"", "hardenvm"}

func (p *Policy) create(body []byte) Response {
	var c createBody
	if len(body) == 0 {
		return refuse(runtime.KeyECI, "creating a container without a readable request body")
	}
	if err := json.Unmarshal(body, &c); err != nil {
		return Response{Err: fmt.Sprintf("hardenvm authz: container create body: %v", err)}
	}
	if rt := c.HostConfig.Runtime; !slices.Contains(Runtimes, rt) && (rt == "" || rt != p.Settings.BenchmarkRuntime) {
		return refuse(runtime.KeyECI, "the runtime %q (only the hardened runtime runs containers)", c.HostConfig.Runtime)
	}
	var sources []string
	for _, b := range c.HostConfig.Binds {
		src, _, _ := strings.Cut(b, ":")
		if strings.HasPrefix(src, "/") {
			sources = append(sources, src)
		}
	}
	for _, m := range c.HostConfig.Mounts {
		if m.Type == "bind" && strings.HasPrefix(m.Source, "/") {
			sources = append(sources, m.Source)
		}
	}
	resolve := p.Resolve
	if resolve == nil {
		resolve = runtime.Resolver(runtime.HostLinks)
	}
	var sockets []string
	for _, s := range p.Settings.EngineSockets {
		sockets = append(sockets, filepath.Clean(s))
		if r, err := resolve(s); err == nil {
			sockets = append(sockets, r)
		}
	}
	for _, src := range sources {
		r, err := resolve(src)
		if err != nil {
			return refuse(runtime.KeyECI, "bind mount of %s (unresolvable: %v)", src, err)
		}
		if !slices.Contains(sockets, r) {
			continue
		}
		var img *runtime.Image
		if p.Image != nil {
			img, err = p.Image(c.Image)
			if err != nil {
				return refuse(runtime.KeySocketMount, "mounting the engine socket into image %s (not found: %v)", c.Image, err)
			}
		}
		if !runtime.ImageAllowed(p.Settings.SocketImages, img) {
			return refuse(runtime.KeySocketMount, "mounting the engine socket %s into image %s", src, c.Image)
		}
	}
	return Response{Allow: true}
}

// volume refuses local volumes that mount something of the VM's: a block
// device, or (type none/bind) a VM directory that the runtime could then
// not tell from an ordinary volume. tmpfs volumes are fine.
func (p *Policy) volume(body []byte) Response {
	var v struct {
		Name       string
		Driver     string
		DriverOpts map[string]string
	}
	if len(body) > 0 {
		if err := json.Unmarshal(body, &v); err != nil {
			return Response{Err: fmt.Sprintf("hardenvm authz: volume create body: %v", err)}
		}
	}
	dev, typ := v.DriverOpts["device"], v.DriverOpts["type"]
	if dev == "" || typ == "tmpfs" {
		return Response{Allow: true}
	}
	return refuse(runtime.KeyECI, "a volume backed by %s (type %q)", dev, typ)
}
