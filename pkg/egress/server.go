package egress

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/hardenvm/hardenvm/internal/pipe"
)

// Server is the filter: it takes the connections the rules redirect to
// it, finds where each was going, and passes or refuses it.
type Server struct {
	Decider *Decider
	// Dial opens the upstream connection; it must carry Mark so the
	// rules let it out.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Inside reports addresses inside the VM (container networks):
	// connections to them pass without a look. Nil: none.
	Inside func(netip.Addr) bool
	// Cert is the certificate of TLS refusals (RefusalCert).
	Cert tls.Certificate
	// Log gets one line per refusal and per failure.
	Log func(format string, args ...any)
	// OriginalDst finds where a connection was going (default
	// OriginalDst; tests set their own).
	OriginalDst func(*net.TCPConn) (netip.AddrPort, error)
	// HelloTimeout bounds the wait for a client's first bytes (default
	// 10 s); a client that says nothing by then passes as Opaque.
	HelloTimeout time.Duration
}

// Serve accepts connections from l until it fails.
func (s *Server) Serve(l net.Listener) error {
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		tc, ok := c.(*net.TCPConn)
		if !ok {
			c.Close()
			continue
		}
		go s.handle(tc)
	}
}

func (s *Server) logf(format string, args ...any) {
	if s.Log != nil {
		s.Log(format, args...)
	}
}

// upstreamFirst is what the server said before the client's hello was
// complete (server-first protocols: SSH, SMTP, MySQL).
type upstreamFirst struct {
	b   []byte
	err error
}

func (s *Server) handle(c *net.TCPConn) {
	orig := s.OriginalDst
	if orig == nil {
		orig = OriginalDst
	}
	dst, err := orig(c)
	local, _ := netip.ParseAddrPort(c.LocalAddr().String())
	if err != nil || dst == local {
		// Not redirected: someone connected to the filter itself.
		c.Close()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	up, err := s.Dial(ctx, "tcp", dst.String())
	if err != nil {
		c.SetLinger(0)
		c.Close()
		return
	}
	if s.Inside != nil && s.Inside(dst.Addr()) {
		pipe.Join(c, up)
		return
	}
	got := make(chan upstreamFirst, 1)
	go func() {
		b := make([]byte, 4096)
		n, err := up.Read(b)
		got <- upstreamFirst{b[:n], err}
	}()
	h, buf, first, spoke := s.readHello(c, got)
	if !spoke {
		up.SetReadDeadline(time.Now())
		first = <-got
		up.SetReadDeadline(time.Time{})
		if first.err != nil && !errors.Is(first.err, os.ErrDeadlineExceeded) {
			spoke = true // the server closed: pass, and let the client see it
		}
	}
	if !spoke && len(first.b) == 0 {
		if ok, why := s.Decider.Allowed(ctx, dst, h); !ok {
			up.Close()
			s.logf("refused %v: %s", dst, why)
			if h.Kind == TLS {
				refuseTLS(&prefixConn{c, buf}, s.Cert, why, time.Now().Add(10*time.Second))
			} else {
				WriteRefusal(c, why)
			}
			c.Close()
			return
		}
	}
	if len(buf) > 0 {
		if _, err := up.Write(buf); err != nil {
			c.Close()
			up.Close()
			return
		}
	}
	if len(first.b) > 0 {
		c.Write(first.b)
	}
	pipe.Join(c, up)
}

// readHello reads the client's first bytes until Sniff is done, the
// hello timeout, MaxHello, the client's end, or the server speaks.
func (s *Server) readHello(c *net.TCPConn, got <-chan upstreamFirst) (h Hello, buf []byte, first upstreamFirst, spoke bool) {
	timeout := s.HelloTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	deadline := time.Now().Add(timeout)
	tmp := make([]byte, 4096)
	defer c.SetReadDeadline(time.Time{})
	for time.Now().Before(deadline) && len(buf) < MaxHello {
		select {
		case first = <-got:
			return Hello{}, buf, first, true
		default:
		}
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, err := c.Read(tmp)
		buf = append(buf, tmp[:n]...)
		if n > 0 {
			if h, done := Sniff(buf); done {
				return h, buf, first, false
			}
		}
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
	}
	return Hello{}, buf, first, false
}

// prefixConn reads buf before the connection.
type prefixConn struct {
	net.Conn
	buf []byte
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.buf) > 0 {
		n := copy(b, p.buf)
		p.buf = p.buf[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}
