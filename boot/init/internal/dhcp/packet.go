package dhcp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// PacketConn is a Conn on an AF_PACKET socket bound to one interface: it
// writes whole IPv4/UDP headers itself, since the interface has no
// address for the kernel's UDP to use.
type PacketConn struct {
	fd       int
	ifindex  int
	deadline time.Time
}

// ListenPacket opens the socket on the interface ifindex; every Receive
// gives up at deadline.
func ListenPacket(ifindex int, deadline time.Time) (*PacketConn, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_IP)))
	if err != nil {
		return nil, fmt.Errorf("dhcp: packet socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP), Ifindex: ifindex}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("dhcp: binding to interface %d: %w", ifindex, err)
	}
	return &PacketConn{fd: fd, ifindex: ifindex, deadline: deadline}, nil
}

func (c *PacketConn) Close() error { return unix.Close(c.fd) }

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// Send broadcasts payload from 0.0.0.0:68 to 255.255.255.255:67.
func (c *PacketConn) Send(payload []byte) error {
	udpLen := 8 + len(payload)
	b := make([]byte, 20+udpLen)
	b[0] = 0x45 // IPv4, 20-byte header
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	b[8] = 64 // TTL
	b[9] = unix.IPPROTO_UDP
	copy(b[16:20], []byte{255, 255, 255, 255})
	binary.BigEndian.PutUint16(b[10:], checksum(b[:20]))
	u := b[20:]
	binary.BigEndian.PutUint16(u[0:], 68)
	binary.BigEndian.PutUint16(u[2:], 67)
	binary.BigEndian.PutUint16(u[4:], uint16(udpLen))
	// UDP checksum 0: none (allowed for IPv4).
	copy(u[8:], payload)
	to := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP), Ifindex: c.ifindex, Halen: 6,
		Addr: [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
	return unix.Sendto(c.fd, b, 0, to)
}

// Receive returns the next UDP payload addressed to port 68.
func (c *PacketConn) Receive() ([]byte, error) {
	buf := make([]byte, 2048)
	for {
		left := time.Until(c.deadline)
		if left <= 0 {
			return nil, os.ErrDeadlineExceeded
		}
		tv := unix.NsecToTimeval(left.Nanoseconds())
		if err := unix.SetsockoptTimeval(c.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return nil, err
		}
		n, _, err := unix.Recvfrom(c.fd, buf, 0)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if p, ok := udpPayload(buf[:n], 68); ok {
			return append([]byte(nil), p...), nil
		}
	}
}

// udpPayload returns the payload of an IPv4 UDP datagram to port.
func udpPayload(b []byte, port uint16) ([]byte, bool) {
	if len(b) < 20 || b[0]>>4 != 4 || b[9] != unix.IPPROTO_UDP {
		return nil, false
	}
	ihl := int(b[0]&0xf) * 4
	total := int(binary.BigEndian.Uint16(b[2:]))
	if ihl < 20 || total > len(b) || total < ihl+8 {
		return nil, false
	}
	u := b[ihl:total]
	if binary.BigEndian.Uint16(u[2:]) != port {
		return nil, false
	}
	l := int(binary.BigEndian.Uint16(u[4:]))
	if l < 8 || l > len(u) {
		return nil, false
	}
	return u[8:l], true
}

func checksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}
