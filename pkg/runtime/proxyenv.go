package runtime

import "strings"

// Proxy is the admin's HTTP proxy as containers see it.
type Proxy struct {
	HTTP    string `json:"http,omitempty"`
	HTTPS   string `json:"https,omitempty"`
	NoProxy string `json:"noProxy,omitempty"`
}

// proxyEnv gives the container the admin's proxy in its environment, as
// Docker Desktop does: HTTP_PROXY, HTTPS_PROXY and NO_PROXY, upper and
// lower case, each pair only when the container sets neither spelling
// (a container's own setting wins, an empty one included). The engine's
// daemon.json proxies reach only the engine's pulls; the docker CLI's
// own proxy injection reads the client's config, which the admin does
// not control. The shim sees every container the engine creates, so it
// is the one place this holds for all of them. docker exec processes
// are not covered (they are not in config.json).
func (h *hardener) proxyEnv() error {
	p := h.set.Proxy
	if p == nil || h.spec.Process == nil {
		return nil
	}
	set := func(name string) bool {
		for _, e := range h.spec.Process.Env {
			k, _, _ := strings.Cut(e, "=")
			if k == name || k == strings.ToLower(name) {
				return true
			}
		}
		return false
	}
	var added []string
	for _, v := range []struct{ name, value string }{{"HTTP_PROXY", p.HTTP}, {"HTTPS_PROXY", p.HTTPS}, {"NO_PROXY", p.NoProxy}} {
		if v.value == "" || set(v.name) {
			continue
		}
		h.spec.Process.Env = append(h.spec.Process.Env, v.name+"="+v.value, strings.ToLower(v.name)+"="+v.value)
		added = append(added, v.name)
	}
	if len(added) > 0 {
		h.note("the admin's proxy in the environment (%s, and lower case)", strings.Join(added, ", "))
	}
	return nil
}
