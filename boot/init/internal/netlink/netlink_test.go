package netlink

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/hardenvm/hardenvm/internal/testenv"
	"golang.org/x/sys/unix"
)

// TestInNetworkNamespace configures the loopback interface of a fresh
// network namespace (only this test's thread enters it) and reads the
// result back from the kernel.
func TestInNetworkNamespace(t *testing.T) {
	testenv.Root(t)
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		errc <- func() error {
			if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
				return err
			}
			if err := LinkUp("lo"); err != nil {
				return err
			}
			lo, err := net.InterfaceByName("lo")
			if err != nil {
				return err
			}
			if lo.Flags&net.FlagUp == 0 {
				return errors.New("lo is not up")
			}
			if err := AddAddr(lo.Index, netip.MustParsePrefix("10.9.8.7/24")); err != nil {
				return err
			}
			if err := AddAddr(lo.Index, netip.MustParsePrefix("10.9.8.7/24")); !errors.Is(err, unix.EEXIST) {
				return errors.New("adding the address twice: " + errString(err))
			}
			addrs, err := lo.Addrs()
			if err != nil {
				return err
			}
			found := false
			for _, a := range addrs {
				found = found || a.String() == "10.9.8.7/24"
			}
			if !found {
				return errors.New("10.9.8.7/24 is not on lo")
			}
			if err := AddDefaultRoute(lo.Index, netip.MustParseAddr("10.9.8.1")); err != nil {
				return err
			}
			routes, err := os.ReadFile("/proc/thread-self/net/route")
			if err != nil {
				return err
			}
			// Destination 0, gateway 10.9.8.1 (little-endian hex).
			if !strings.Contains(string(routes), "lo\t00000000\t0108090A") {
				return errors.New("no default route via 10.9.8.1 in:\n" + string(routes))
			}
			if err := AddAddr(lo.Index, netip.MustParsePrefix("::1/128")); err == nil {
				return errors.New("an IPv6 address was accepted")
			}
			return nil
		}()
	}()
	if err := <-errc; err != nil {
		if errors.Is(err, unix.EPERM) {
			t.Skipf("no network namespaces here: %v", err)
		}
		t.Fatal(err)
	}
}

func errString(err error) string {
	if err == nil {
		return "no error"
	}
	return err.Error()
}
