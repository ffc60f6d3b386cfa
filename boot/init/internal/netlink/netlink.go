// Package netlink configures IPv4 networking the way hardenvm-init needs
// it: bring a link up, add an address, add a default route. It speaks
// rtnetlink (RTM_NEWADDR, RTM_NEWROUTE) directly with golang.org/x/sys,
// without the ip tool.
package netlink

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// LinkUp sets IFF_UP on the interface.
func LinkUp(name string) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("netlink: %s: reading flags: %w", name, err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("netlink: %s: setting it up: %w", name, err)
	}
	return nil
}

// AddAddr adds an IPv4 address with its prefix length to the interface.
func AddAddr(ifindex int, p netip.Prefix) error {
	if !p.Addr().Is4() {
		return fmt.Errorf("netlink: %v is not IPv4", p)
	}
	msg := make([]byte, unix.SizeofIfAddrmsg)
	msg[0] = unix.AF_INET
	msg[1] = byte(p.Bits())
	msg[2] = 0 // flags
	msg[3] = unix.RT_SCOPE_UNIVERSE
	if p.Addr().IsLoopback() {
		msg[3] = unix.RT_SCOPE_HOST
	}
	binary.NativeEndian.PutUint32(msg[4:], uint32(ifindex))
	a := p.Addr().As4()
	msg = attr(msg, unix.IFA_LOCAL, a[:])
	msg = attr(msg, unix.IFA_ADDRESS, a[:])
	if err := request(unix.RTM_NEWADDR, msg); err != nil {
		return fmt.Errorf("netlink: adding %v: %w", p, err)
	}
	return nil
}

// AddDefaultRoute adds 0.0.0.0/0 via gw on the interface.
func AddDefaultRoute(ifindex int, gw netip.Addr) error {
	if !gw.Is4() {
		return fmt.Errorf("netlink: gateway %v is not IPv4", gw)
	}
	msg := make([]byte, unix.SizeofRtMsg)
	msg[0] = unix.AF_INET
	msg[4] = unix.RT_TABLE_MAIN
	msg[5] = unix.RTPROT_DHCP
	msg[6] = unix.RT_SCOPE_UNIVERSE
	msg[7] = unix.RTN_UNICAST
	g := gw.As4()
	msg = attr(msg, unix.RTA_GATEWAY, g[:])
	var oif [4]byte
	binary.NativeEndian.PutUint32(oif[:], uint32(ifindex))
	msg = attr(msg, unix.RTA_OIF, oif[:])
	if err := request(unix.RTM_NEWROUTE, msg); err != nil {
		return fmt.Errorf("netlink: adding the default route via %v: %w", gw, err)
	}
	return nil
}

func attr(b []byte, typ uint16, val []byte) []byte {
	n := unix.SizeofRtAttr + len(val)
	h := make([]byte, unix.SizeofRtAttr)
	binary.NativeEndian.PutUint16(h[0:], uint16(n))
	binary.NativeEndian.PutUint16(h[2:], typ)
	b = append(append(b, h...), val...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// request sends one create request and waits for its acknowledgement.
func request(typ uint16, body []byte) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	hdr := unix.NlMsghdr{Len: uint32(unix.SizeofNlMsghdr + len(body)), Type: typ,
		Flags: unix.NLM_F_REQUEST | unix.NLM_F_ACK | unix.NLM_F_CREATE | unix.NLM_F_EXCL, Seq: 1}
	msg := append((*[unix.SizeofNlMsghdr]byte)(unsafe.Pointer(&hdr))[:], body...)
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	buf := make([]byte, 4096)
	n, _, err := unix.Recvfrom(fd, buf, 0)
	if err != nil {
		return err
	}
	msgs, err := syscall.ParseNetlinkMessage(buf[:n])
	if err != nil {
		return err
	}
	for _, m := range msgs {
		if m.Header.Type == unix.NLMSG_ERROR && m.Header.Seq == 1 {
			if len(m.Data) < 4 {
				return errors.New("short netlink error message")
			}
			if code := int32(binary.NativeEndian.Uint32(m.Data)); code != 0 {
				return unix.Errno(-code)
			}
			return nil
		}
	}
	return errors.New("no netlink acknowledgement")
}
