package portfwd

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeVM records QEMU host forwards.
type fakeVM struct {
	mu  sync.Mutex
	log []string
}

func (v *fakeVM) AddHostForward(proto string, h, g int) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.log = append(v.log, fmt.Sprintf("add %s %d->%d", proto, h, g))
	return nil
}

func (v *fakeVM) RemoveHostForward(proto string, h int) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.log = append(v.log, fmt.Sprintf("remove %s %d", proto, h))
	return nil
}

// TestForwardsTCP: a connection to the host's 127.0.0.1:PORT reaches Dial
// for PORT and carries bytes both ways; a port taken on the host is an
// error; once closed, the port refuses connections.
func TestForwardsTCP(t *testing.T) {
	dialed := make(chan int, 1)
	f := Forwards{Dial: func(port int) (net.Conn, error) {
		dialed <- port
		a, b := net.Pipe()
		go func() { // the VM's server: echoes one line in upper case
			defer b.Close()
			buf := make([]byte, 5)
			if _, err := io.ReadFull(b, buf); err == nil {
				io.WriteString(b, strings.ToUpper(string(buf)))
			}
		}()
		return a, nil
	}}
	taken, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := taken.Addr().(*net.TCPAddr).Port
	if _, err := f.Open(Port{"tcp", port}); err == nil {
		t.Errorf("Open of a port taken on the host: no error")
	}
	taken.Close()

	c, err := f.Open(Port{"tcp", port})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(conn, "hello")
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(conn)
	conn.Close()
	if string(got) != "HELLO" || err != nil {
		t.Errorf("through the forward: %q, %v; want \"HELLO\"", got, err)
	}
	if p := <-dialed; p != port {
		t.Errorf("dialed port %d, want %d", p, port)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
	if conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
		conn.Close()
		t.Errorf("port %d still open after Close", port)
	}
}

func TestForwardsUDP(t *testing.T) {
	if _, err := (Forwards{}).Open(Port{"udp", 5353}); !errors.Is(err, ErrNoNetwork) {
		t.Errorf("UDP without a network: %v, want ErrNoNetwork", err)
	}
	vm := &fakeVM{}
	c, err := Forwards{VM: vm}.Open(Port{"udp", 5353})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if got, want := strings.Join(vm.log, "; "), "add udp 5353->5353; remove udp 5353"; got != want {
		t.Errorf("host forwards: %q, want %q", got, want)
	}
}
