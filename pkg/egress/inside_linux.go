package egress

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
)

// InsidePrefixes are the IPv4 networks of the VM's virtual interfaces
// (bridges, veths: those without a device in /sys/class/net): container
// networks, which never leave the VM. The NIC's own network is not one of
// them: the host (and its registries) sits there.
func InsidePrefixes() []netip.Prefix {
	ifs, _ := net.Interfaces()
	var out []netip.Prefix
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		if _, err := os.Stat(filepath.Join("/sys/class/net", ifc.Name, "device")); err == nil {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
				ones, _ := n.Mask.Size()
				ip, _ := netip.AddrFromSlice(n.IP.To4())
				out = append(out, netip.PrefixFrom(ip, ones).Masked())
			}
		}
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	return slices.Compact(out)
}

// Inside reports whether a is in one of InsidePrefixes.
func Inside(a netip.Addr) bool {
	return slices.ContainsFunc(InsidePrefixes(), func(p netip.Prefix) bool { return p.Contains(a.Unmap()) })
}
