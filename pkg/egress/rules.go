package egress

import (
	"fmt"
	"net/netip"
	"strings"
)

// Mark is the firewall mark (SO_MARK) on the filter's own connections:
// the rules let them out instead of sending them back to the filter.
const Mark = 0x4856

// Chain is the filter's chain in the nat table (IPv4) and in the filter
// table (IPv6).
const Chain = "HARDENVM-EGRESS"

// Rules is iptables-restore input (run with --noflush, so the engine's
// own rules stay) for the IPv4 nat table: every new outbound TCP
// connection, from the VM's own processes (OUTPUT: the engine, its
// builders, containerd) and from containers (PREROUTING: docker0 and
// every other bridge; an inner engine's containers too, whose traffic
// leaves through the outer container's interface) is redirected to the
// filter on port — except connections to the VM itself (published
// ports, the engine's sockets, host.docker.internal's DNS), to the
// container networks inside (from Inside prefixes; they never leave the
// VM), and the filter's own (Mark). With hooks, the jumps into the chain
// are added too (once); without, only the chain is replaced, as when a
// container network comes or goes.
func Rules(port int, inside []netip.Prefix, hooks bool) string {
	var b strings.Builder
	b.WriteString("*nat\n")
	fmt.Fprintf(&b, ":%s - [0:0]\n-F %s\n", Chain, Chain)
	fmt.Fprintf(&b, "-A %s -m addrtype --dst-type LOCAL -j RETURN\n", Chain)
	fmt.Fprintf(&b, "-A %s -m mark --mark %#x -j RETURN\n", Chain, Mark)
	for _, p := range inside {
		if p.Addr().Is4() {
			fmt.Fprintf(&b, "-A %s -d %v -j RETURN\n", Chain, p.Masked())
		}
	}
	fmt.Fprintf(&b, "-A %s -p tcp -j REDIRECT --to-ports %d\n", Chain, port)
	if hooks {
		fmt.Fprintf(&b, "-I PREROUTING 1 -p tcp -j %s\n", Chain)
		fmt.Fprintf(&b, "-I OUTPUT 1 -p tcp -j %s\n", Chain)
	}
	b.WriteString("COMMIT\n")
	return b.String()
}

// Rules6 is ip6tables-restore input (--noflush) for IPv6, which the
// filter does not read (QEMU's user network offers IPv6 by router
// advertisement; hooks as for Rules): outbound TCP that would leave the VM is reset, from
// the VM's processes and from containers, except the filter's own. Go
// and curl then fall back to IPv4, which the filter sees.
func Rules6(hooks bool) string {
	var b strings.Builder
	b.WriteString("*filter\n")
	fmt.Fprintf(&b, ":%s - [0:0]\n-F %s\n", Chain, Chain)
	fmt.Fprintf(&b, "-A %s -m addrtype --dst-type LOCAL -j RETURN\n", Chain)
	fmt.Fprintf(&b, "-A %s -d fe80::/10 -j RETURN\n", Chain)
	fmt.Fprintf(&b, "-A %s -m mark --mark %#x -j RETURN\n", Chain, Mark)
	fmt.Fprintf(&b, "-A %s -p tcp -j REJECT --reject-with tcp-reset\n", Chain)
	if hooks {
		fmt.Fprintf(&b, "-I OUTPUT 1 -p tcp -j %s\n", Chain)
		fmt.Fprintf(&b, "-I FORWARD 1 -p tcp -j %s\n", Chain)
	}
	b.WriteString("COMMIT\n")
	return b.String()
}
