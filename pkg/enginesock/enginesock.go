// Package enginesock carries connections between the host and the VM
// over one byte stream — the virtio-serial port org.hardenvm.engine — with
// each connection a yamux stream that the host opens. Two kinds travel:
//
//   - the container engine's unix socket: the host side (Host) serves a
//     unix socket, mode 0600, and the guest side (Guest) connects each
//     stream to the engine's socket. Nothing listens on TCP, so the rule
//     that the engine is never reachable over the network without TLS
//     holds;
//   - published ports: Host.DialTCP opens a stream to a TCP port on the
//     VM's loopback, which package portfwd uses to serve the ports
//     containers publish on the host's loopback. Published ports bound
//     to the VM's 0.0.0.0 and to its 127.0.0.1 are both reached there, and
//     the VM needs no network for it (NAT, restricted or none alike).
//
// Every stream starts with a header, so the guest tells the kinds apart
// without guessing:
//
//	byte 0   version, 1 (HeaderVersion); any other is refused
//	byte 1   kind: 'E' the engine socket, 'T' a TCP port
//	byte 2   n, the length of the target (0 for 'E')
//	n bytes  the target: for 'T' "IP:PORT" as netip.AddrPort writes it
//	         ("127.0.0.1:8080", "[::1]:8080"), no zone
//
// The connection's bytes follow at once; no answer comes back: a target
// the guest cannot or will not reach is a stream it closes, as a refused
// connection. A header not complete within 10 s ends the stream.
//
// The guest dials TCP on 127.0.0.1 and ::1 only and refuses (and logs)
// any other target: the channel must not become a way from the host into
// the VM's networks (the NAT network, the host behind it, container
// networks) or a general proxy. It does not check that the port is one a
// container publishes: whoever can open the channel (the owner of the
// state directory) already holds the engine API, which can publish any
// port. Other TCP services on the VM's loopback are reachable through it
// too; those that exist authenticate their clients (an admin's TCP engine
// listener requires TLS; containerd's CRI stream server wants a token
// from the CRI API, a unix socket).
//
// Half-closes pass through (docker attach and exec close their write side
// and keep reading), so a stream ends only when both sides are done.
package enginesock

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/hardenvm/hardenvm/internal/pipe"
	"github.com/hashicorp/yamux"
)

// ChannelName is the virtio-serial port of the engine socket.
const ChannelName = "org.hardenvm.engine"

// config is yamux's, with nothing sent unasked: the guest side starts
// before the host connects, and a virtio-serial port drops what the guest
// writes while no host is there, so neither side may ping on its own.
func config() *yamux.Config {
	c := yamux.DefaultConfig()
	c.EnableKeepAlive = false
	c.LogOutput = io.Discard
	c.StreamOpenTimeout = 15 * time.Second
	c.ConnectionWriteTimeout = 30 * time.Second
	return c
}

// Guest is the guest side: it serves the streams the host opens.
type Guest struct {
	Engine string       // the engine's unix socket
	Log    *slog.Logger // refusals and failed connections; nil: none
}

// headerTimeout bounds how long a new stream may take to send its header.
const headerTimeout = 10 * time.Second

// Serve runs one session over port, connecting each stream to what its
// header names. It returns when the port reports the host gone (a
// virtio-serial port reads EOF while no host is connected) or the session
// fails; port itself stays open for the next session.
func (g Guest) Serve(port io.ReadWriter) error {
	s, err := yamux.Server(keepOpen{port}, config())
	if err != nil {
		return err
	}
	defer s.Close()
	for {
		st, err := s.AcceptStream()
		if err != nil {
			if errors.Is(err, io.EOF) || s.IsClosed() {
				return io.EOF
			}
			return err
		}
		go g.connect(st)
	}
}

// connect reads st's header and pipes st to its target, or closes it.
func (g Guest) connect(st *yamux.Stream) {
	st.SetReadDeadline(time.Now().Add(headerTimeout))
	h, err := ReadHeader(st)
	st.SetReadDeadline(time.Time{})
	var c net.Conn
	if err == nil {
		c, err = g.dial(h)
	}
	if err != nil {
		if g.Log != nil {
			g.Log.Warn("refused a stream from the host", "err", err)
		}
		st.Close()
		return
	}
	pipe.Join(st, c)
}

func (g Guest) dial(h Header) (net.Conn, error) {
	switch h.Kind {
	case KindEngine:
		c, err := net.Dial("unix", g.Engine)
		if err != nil {
			return nil, fmt.Errorf("the engine: %w", err)
		}
		return c, nil
	case KindTCP:
		to, err := Allowed(h.Target)
		if err != nil {
			return nil, err
		}
		c, err := net.DialTimeout("tcp", to.String(), 5*time.Second)
		if err != nil {
			return nil, fmt.Errorf("published port: %w", err)
		}
		return c, nil
	}
	return nil, fmt.Errorf("BUG: kind %q passed ReadHeader", h.Kind)
}

// ErrNotLoopback refuses a TCP target outside the VM's loopback.
var ErrNotLoopback = errors.New("not the VM's loopback")

// Allowed returns the address to dial for a TCP target, or ErrNotLoopback:
// only 127.0.0.1 and ::1 (an IPv4-mapped 127.0.0.1 counts as 127.0.0.1).
func Allowed(target netip.AddrPort) (netip.AddrPort, error) {
	a := target.Addr().Unmap()
	if a != netip.IPv6Loopback() && a != netip.AddrFrom4([4]byte{127, 0, 0, 1}) {
		return netip.AddrPort{}, fmt.Errorf("refusing TCP target %v: %w (the channel carries published ports only)", target, ErrNotLoopback)
	}
	return netip.AddrPortFrom(a, target.Port()), nil
}

// keepOpen is a port whose Close leaves it open: sessions come and go
// with the host, the port stays.
type keepOpen struct{ io.ReadWriter }

func (keepOpen) Close() error { return nil }
