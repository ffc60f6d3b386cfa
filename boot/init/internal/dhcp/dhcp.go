// Package dhcp is the small DHCPv4 client of hardenvm-init (RFC 2131,
// options from RFC 2132): DISCOVER, OFFER, REQUEST, ACK with the broadcast
// flag set, over a link-layer socket because the interface has no address
// yet. It takes the address, netmask, router and DNS servers and nothing
// else; it does not renew (QEMU's user network leases for a day, longer
// than the VMs live), release, or handle relays.
package dhcp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// Message types (option 53).
const (
	Discover = 1
	Offer    = 2
	Request  = 3
	Ack      = 5
	Nak      = 6
)

const (
	optSubnet    = 1
	optRouter    = 3
	optDNS       = 6
	optRequested = 50
	optLease     = 51
	optType      = 53
	optServerID  = 54
	optParams    = 55
	optEnd       = 255
	optPad       = 0
)

var magic = []byte{99, 130, 83, 99}

// Lease is what the client keeps from an ACK.
type Lease struct {
	Addr     netip.Prefix // address and netmask
	Router   netip.Addr   // invalid when the server gave none
	DNS      []netip.Addr
	Server   netip.Addr
	LeaseSec uint32
}

// packet is a BOOTP/DHCP message: the fields the client uses.
type packet struct {
	op      byte
	xid     uint32
	flags   uint16
	ciaddr  netip.Addr
	yiaddr  netip.Addr
	chaddr  [6]byte
	msgType byte
	options map[byte][]byte
}

// encode makes a client message of type t.
func encode(t byte, xid uint32, mac [6]byte, requested, server netip.Addr) []byte {
	b := make([]byte, 236, 300)
	b[0], b[1], b[2] = 1, 1, 6 // BOOTREQUEST, Ethernet, 6-byte addresses
	binary.BigEndian.PutUint32(b[4:], xid)
	binary.BigEndian.PutUint16(b[10:], 0x8000) // broadcast: we cannot receive unicast yet
	copy(b[28:], mac[:])
	b = append(b, magic...)
	b = append(b, optType, 1, t)
	if requested.IsValid() {
		a := requested.As4()
		b = append(b, optRequested, 4, a[0], a[1], a[2], a[3])
	}
	if server.IsValid() {
		a := server.As4()
		b = append(b, optServerID, 4, a[0], a[1], a[2], a[3])
	}
	b = append(b, optParams, 4, optSubnet, optRouter, optDNS, optLease, optEnd)
	for len(b) < 300 { // BOOTP's minimum; some servers insist
		b = append(b, optPad)
	}
	return b
}

// parse decodes a server message.
func parse(b []byte) (*packet, error) {
	if len(b) < 240 || !bytes.Equal(b[236:240], magic) {
		return nil, errors.New("dhcp: not a DHCP message")
	}
	p := &packet{op: b[0], xid: binary.BigEndian.Uint32(b[4:]), flags: binary.BigEndian.Uint16(b[10:]),
		ciaddr: netip.AddrFrom4([4]byte(b[12:16])), yiaddr: netip.AddrFrom4([4]byte(b[16:20])),
		options: map[byte][]byte{}}
	copy(p.chaddr[:], b[28:34])
	o := b[240:]
	for len(o) > 0 {
		code := o[0]
		if code == optEnd {
			break
		}
		if code == optPad {
			o = o[1:]
			continue
		}
		if len(o) < 2 || len(o) < 2+int(o[1]) {
			return nil, errors.New("dhcp: truncated option")
		}
		p.options[code] = append(p.options[code], o[2:2+int(o[1])]...) // RFC 3396 concatenation
		o = o[2+int(o[1]):]
	}
	if t := p.options[optType]; len(t) == 1 {
		p.msgType = t[0]
	}
	return p, nil
}

func (p *packet) addr(code byte) netip.Addr {
	if v := p.options[code]; len(v) >= 4 {
		return netip.AddrFrom4([4]byte(v[:4]))
	}
	return netip.Addr{}
}

// lease turns an ACK into a Lease.
func (p *packet) lease() (Lease, error) {
	mask := p.options[optSubnet]
	if len(mask) != 4 {
		return Lease{}, errors.New("dhcp: the ACK has no subnet mask")
	}
	ones := 0
	m := binary.BigEndian.Uint32(mask)
	for m&(1<<31) != 0 {
		ones++
		m <<= 1
	}
	if m != 0 {
		return Lease{}, fmt.Errorf("dhcp: netmask %v is not contiguous", mask)
	}
	if !p.yiaddr.IsValid() || p.yiaddr.IsUnspecified() {
		return Lease{}, errors.New("dhcp: the ACK assigns no address")
	}
	l := Lease{Addr: netip.PrefixFrom(p.yiaddr, ones), Router: p.addr(optRouter), Server: p.addr(optServerID)}
	for d := p.options[optDNS]; len(d) >= 4; d = d[4:] {
		l.DNS = append(l.DNS, netip.AddrFrom4([4]byte(d[:4])))
	}
	if v := p.options[optLease]; len(v) == 4 {
		l.LeaseSec = binary.BigEndian.Uint32(v)
	}
	return l, nil
}

// Conn sends a DHCP payload as a broadcast UDP datagram from port 68 to
// port 67 and receives the payloads of datagrams to port 68, until its
// deadline (an error then).
type Conn interface {
	Send(payload []byte) error
	Receive() ([]byte, error)
}

// Exchange runs DISCOVER/OFFER/REQUEST/ACK on c for the interface with
// hardware address mac.
func Exchange(c Conn, mac [6]byte, xid uint32) (Lease, error) {
	if err := c.Send(encode(Discover, xid, mac, netip.Addr{}, netip.Addr{})); err != nil {
		return Lease{}, fmt.Errorf("dhcp: sending DISCOVER: %w", err)
	}
	offer, err := await(c, xid, mac, Offer)
	if err != nil {
		return Lease{}, err
	}
	server := offer.addr(optServerID)
	if err := c.Send(encode(Request, xid, mac, offer.yiaddr, server)); err != nil {
		return Lease{}, fmt.Errorf("dhcp: sending REQUEST: %w", err)
	}
	ack, err := await(c, xid, mac, Ack)
	if err != nil {
		return Lease{}, err
	}
	return ack.lease()
}

// await skips messages for other clients and other transactions.
func await(c Conn, xid uint32, mac [6]byte, want byte) (*packet, error) {
	for {
		b, err := c.Receive()
		if err != nil {
			return nil, fmt.Errorf("dhcp: waiting for message type %d: %w", want, err)
		}
		p, err := parse(b)
		if err != nil || p.op != 2 || p.xid != xid || p.chaddr != mac {
			continue
		}
		if p.msgType == Nak {
			return nil, errors.New("dhcp: the server refused (NAK)")
		}
		if p.msgType == want {
			return p, nil
		}
	}
}
