package main

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hardenvm/hardenvm/boot/init/internal/dhcp"
	"github.com/hardenvm/hardenvm/boot/init/internal/dnsproxy"
	"github.com/hardenvm/hardenvm/boot/init/internal/netlink"
	"golang.org/x/sys/unix"
)

// resolvConf is where stage 2 writes the DNS servers DHCP gave; the image's
// /etc/resolv.conf is a symlink to it (the root is read-only).
const resolvConf = "/run/hardenvm/resolv.conf"

// dhcpTimeout bounds the whole DHCP exchange, over all attempts.
const dhcpTimeout = 15 * time.Second

// setupNetwork brings up lo and the first Ethernet interface (the virtio
// NIC, when the VM has one and virtio_net is in the initramfs), configured
// by DHCP from QEMU's user network.
func setupNetwork() error {
	if err := netlink.LinkUp("lo"); err != nil {
		return err
	}
	if lo, err := net.InterfaceByName("lo"); err == nil {
		if err := netlink.AddAddr(lo.Index, netip.MustParsePrefix("127.0.0.1/8")); err != nil && !errors.Is(err, unix.EEXIST) {
			return err
		}
	}
	name := ethernetInterface()
	if name == "" {
		say("no network interface: the VM is offline")
		return nil
	}
	if err := netlink.LinkUp(name); err != nil {
		return err
	}
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return err
	}
	var mac [6]byte
	copy(mac[:], ifc.HardwareAddr)
	var xid [4]byte
	rand.Read(xid[:])
	var lease dhcp.Lease
	deadline := time.Now().Add(dhcpTimeout)
	for attempt := 1; ; attempt++ {
		try := time.Now().Add(3 * time.Second)
		if try.After(deadline) {
			try = deadline
		}
		c, err := dhcp.ListenPacket(ifc.Index, try)
		if err != nil {
			return err
		}
		lease, err = dhcp.Exchange(c, mac, binary.BigEndian.Uint32(xid[:])+uint32(attempt))
		c.Close()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("DHCP on %s: %w (after %d attempts)", name, err, attempt)
		}
	}
	if err := netlink.AddAddr(ifc.Index, lease.Addr); err != nil {
		return err
	}
	if lease.Router.IsValid() {
		if err := netlink.AddDefaultRoute(ifc.Index, lease.Router); err != nil {
			return err
		}
	}
	var rc strings.Builder
	if addr := startDNS(lease); addr.IsValid() {
		fmt.Fprintf(&rc, "nameserver %v\n", addr)
	} else {
		for _, d := range lease.DNS {
			fmt.Fprintf(&rc, "nameserver %v\n", d)
		}
	}
	if err := os.MkdirAll(filepath.Dir(resolvConf), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(resolvConf, []byte(rc.String()), 0o644); err != nil {
		return err
	}
	router := "no router"
	if lease.Router.IsValid() {
		router = "router " + lease.Router.String()
	}
	say("network %s %v, %s, DNS %v (DHCP from %v)", name, lease.Addr, router, lease.DNS, lease.Server)
	return nil
}

// startDNS serves DNS on the VM's address (dnsproxy: host.docker.internal
// is the router, QEMU's way to the host; the rest goes to the servers DHCP
// gave) and returns that address, or an invalid one when it cannot listen
// or DHCP gave no server to forward to. The VM's address, not the
// loopback: the engine copies resolv.conf into containers, and a loopback
// server there would be the container's own.
func startDNS(lease dhcp.Lease) netip.Addr {
	if len(lease.DNS) == 0 || !lease.Router.Is4() {
		return netip.Addr{}
	}
	addr := lease.Addr.Addr()
	c, err := net.ListenPacket("udp", netip.AddrPortFrom(addr, 53).String())
	if err != nil {
		say("WARNING: DNS for containers: %v; host.docker.internal will not resolve", err)
		return netip.Addr{}
	}
	s := &dnsproxy.Server{Host: lease.Router}
	for _, d := range lease.DNS {
		s.Upstream = append(s.Upstream, netip.AddrPortFrom(d, 53))
	}
	go func() {
		if err := s.Serve(c); err != nil {
			say("WARNING: DNS for containers stopped: %v", err)
		}
	}()
	return addr
}

// ethernetInterface is the first interface that is a device (not virtual)
// of type Ethernet, by name order.
func ethernetInterface() string {
	ents, _ := os.ReadDir("/sys/class/net")
	for _, e := range ents {
		dir := filepath.Join("/sys/class/net", e.Name())
		if _, err := os.Stat(filepath.Join(dir, "device")); err != nil {
			continue
		}
		if t, err := os.ReadFile(filepath.Join(dir, "type")); err == nil && strings.TrimSpace(string(t)) == "1" {
			return e.Name()
		}
	}
	return ""
}
