// Package testenv lets tests that need an outside program (a peer tool such
// as veritysetup, or QEMU) skip politely on a developer machine that lacks
// it, and fail loudly in CI, where HARDENVM_REQUIRE_QEMU=1 (or
// HARDENVM_REQUIRE_TOOLS=1) says every tool must be there.
package testenv

import (
	"net"
	"os"
	"os/exec"
	"testing"
)

// Required reports whether CI asked for every tool to be present.
func Required() bool {
	return os.Getenv("HARDENVM_REQUIRE_QEMU") == "1" || os.Getenv("HARDENVM_REQUIRE_TOOLS") == "1"
}

// Missing skips the test, or fails it when tools are required, with a
// message that says what to install.
func Missing(t testing.TB, what, pkg string) {
	t.Helper()
	msg := what + " not found: install the Debian package " + pkg + " (or run scripts/deps)"
	if Required() {
		t.Fatal(msg + "; HARDENVM_REQUIRE_QEMU=1 makes this a failure")
	}
	t.Skip(msg)
}

// Tool returns the path of the named program, skipping or failing the test
// (see Missing) when it is not on PATH or in /usr/sbin or /sbin.
func Tool(t testing.TB, name, pkg string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin/", "/sbin/"} {
		if fi, err := os.Stat(dir + name); err == nil && fi.Mode()&0o111 != 0 {
			return dir + name
		}
	}
	Missing(t, name, pkg)
	return ""
}

// File returns path if it exists, and otherwise skips or fails the test.
func File(t testing.TB, path, pkg string) string {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		Missing(t, path, pkg)
	}
	return path
}

// Root skips (or fails, when required) a test that needs to run as root.
func Root(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		if Required() {
			t.Fatal("this test needs root; CI runs as root")
		}
		t.Skip("this test needs root")
	}
}

// Silent listens on network/address (a unix socket path or "127.0.0.1:0")
// and accepts connections that are never answered, until the test ends:
// a peer that hangs. It returns the address.
func Silent(t testing.TB, network, address string) string {
	t.Helper()
	l, err := net.Listen(network, address)
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}
