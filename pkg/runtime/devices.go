package runtime

import (
	"cmp"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

type devNum struct {
	typ          string
	major, minor int64
}

// safeDevices are the device nodes a container may have: the ones every
// container gets, plus fuse and tun, whose effects stay in the container's
// own namespaces. Matched by type and number, never by name.
var safeDevices = map[devNum]string{
	{"c", 1, 3}: "null", {"c", 1, 5}: "zero", {"c", 1, 7}: "full",
	{"c", 1, 8}: "random", {"c", 1, 9}: "urandom", {"c", 5, 0}: "tty",
	{"c", 5, 1}: "console", {"c", 5, 2}: "ptmx", {"c", 10, 229}: "fuse",
	{"c", 10, 200}: "net/tun",
}

func allowsAll(r specs.LinuxDeviceCgroup) bool {
	return r.Allow && (r.Type == "" || r.Type == "a") && r.Major == nil && r.Minor == nil
}

func (h *hardener) devices() error {
	l := h.spec.Linux
	priv := h.privileged()
	var kept []specs.LinuxDevice
	dropped := 0
	for _, d := range l.Devices {
		if _, ok := safeDevices[devNum{d.Type, d.Major, d.Minor}]; ok {
			kept = append(kept, d)
			continue
		}
		if !priv {
			return refuse(KeyECI, "access to the host device %s (%s %d:%d)", d.Path, d.Type, d.Major, d.Minor)
		}
		dropped++
	}
	if dropped > 0 {
		h.note("removed %d host devices that --privileged asked for", dropped)
	}
	l.Devices = kept
	if l.Resources == nil {
		l.Resources = &specs.LinuxResources{}
	}
	rules := []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}
	removed := 0
	for _, r := range l.Resources.Devices {
		if !r.Allow {
			if r.Type != "" || r.Major != nil || r.Minor != nil {
				rules = append(rules, r)
			}
			continue
		}
		if r.Major == nil || r.Minor == nil {
			removed++
			continue
		}
		if _, ok := safeDevices[devNum{r.Type, *r.Major, *r.Minor}]; !ok {
			if !priv {
				return refuse(KeyECI, "a device cgroup rule for %s %d:%d", r.Type, *r.Major, *r.Minor)
			}
			removed++
			continue
		}
		rules = append(rules, r)
	}
	if removed > 0 {
		h.note("removed %d device cgroup rules (wildcards or host devices)", removed)
	}
	// The safe devices themselves, so a --privileged container keeps a
	// usable /dev once its "a rwm" rule is gone.
	for _, n := range safeOrder() {
		if !slices.ContainsFunc(rules, func(r specs.LinuxDeviceCgroup) bool {
			return r.Allow && r.Type == n.typ && r.Major != nil && *r.Major == n.major && r.Minor != nil && *r.Minor == n.minor
		}) && priv {
			rules = append(rules, specs.LinuxDeviceCgroup{Allow: true, Type: n.typ, Major: ptr(n.major), Minor: ptr(n.minor), Access: "rwm"})
		}
	}
	l.Resources.Devices = rules
	return nil
}

// safeOrder lists safeDevices in a fixed order, so the output is stable.
func safeOrder() []devNum {
	var ns []devNum
	for n := range safeDevices {
		ns = append(ns, n)
	}
	slices.SortFunc(ns, func(a, b devNum) int {
		return cmp.Or(cmp.Compare(a.typ, b.typ), cmp.Compare(a.major, b.major), cmp.Compare(a.minor, b.minor))
	})
	return ns
}

func ptr[T any](v T) *T { return &v }
