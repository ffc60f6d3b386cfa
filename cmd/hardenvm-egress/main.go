// Command hardenvm-egress is the registry allow-list at the VM's network
// edge (pkg/egress): it installs the guest's iptables rules that send
// every outbound TCP connection of the engine and its containers to it,
// then passes or refuses each one by the locked config's
// registryAllowList.
//
//	hardenvm-egress [--settings /run/hardenvm/config/runtime.json]
//	                [--port 15001] [--ready /run/hardenvm/egress.sock]
//
// With no allow-list it installs nothing and only says it is ready.
// The guest init starts it before the engine; the ready socket appears
// once the rules are in, so READY implies them. The init's service order
// is a start order, not a wait: the rules go in within a fraction of a
// second, while dockerd takes seconds to answer its first request. If it stops, the rules
// stay and redirected connections find no listener: egress fails closed.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/hardenvm/hardenvm/pkg/egress"
	"github.com/hardenvm/hardenvm/pkg/runtime"
	"golang.org/x/sys/unix"
)

func main() {
	settings := flag.String("settings", "/run/hardenvm/config/runtime.json", "runtime settings (JSON) with registryAllowList")
	port := flag.Int("port", 15001, "port the redirected connections arrive on")
	ready := flag.String("ready", "/run/hardenvm/egress.sock", "unix socket created once the rules are in")
	flag.Parse()
	if err := run(*settings, *port, *ready); err != nil {
		fmt.Fprintln(os.Stderr, "hardenvm-egress: "+err.Error())
		os.Exit(1)
	}
}

func run(settingsPath string, port int, ready string) error {
	s := runtime.Default()
	if _, err := os.Stat(settingsPath); err == nil {
		if s, err = runtime.LoadSettings(settingsPath); err != nil {
			return err
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if len(s.RegistryAllowList) == 0 {
		log.Printf("no registryAllowList: every registry is allowed, no egress rules")
		return readyAndWait(ctx, ready, nil)
	}
	cert, err := egress.RefusalCert(time.Now())
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp4", ":"+strconv.Itoa(port))
	if err != nil {
		return err
	}
	inside := egress.InsidePrefixes()
	if err := restore("iptables-restore", egress.Rules(port, inside, !hooked("iptables", "nat", "PREROUTING"))); err != nil {
		return err
	}
	if err := restore("ip6tables-restore", egress.Rules6(!hooked("ip6tables", "filter", "OUTPUT"))); err != nil {
		return err
	}
	log.Printf("egress rules in: registries other than %v are refused", s.RegistryAllowList)
	dialer := &net.Dialer{Timeout: 20 * time.Second, Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK, egress.Mark) }); err != nil {
			return err
		}
		return serr
	}}
	srv := &egress.Server{
		Decider: &egress.Decider{
			Allow: egress.AllowList(s.RegistryAllowList),
			Resolve: func(ctx context.Context, host string) ([]netip.Addr, error) {
				return net.DefaultResolver.LookupNetIP(ctx, "ip4", host)
			},
			IsRegistry: egress.Prober{Dial: dialer.DialContext}.IsRegistry,
		},
		Dial:   dialer.DialContext,
		Inside: egress.Inside,
		Cert:   cert,
		Log:    log.Printf,
	}
	go followNetworks(ctx, port, inside)
	go func() { <-ctx.Done(); l.Close() }()
	go srv.Serve(l)
	return readyAndWait(ctx, ready, l)
}

// followNetworks keeps the chain's exceptions in step with the container
// networks the engine creates and removes (checked every second; until
// then a new network's own traffic goes through the filter, which
// passes it: Server.Inside).
func followNetworks(ctx context.Context, port int, inside []netip.Prefix) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := egress.InsidePrefixes()
		if slices.Equal(now, inside) {
			continue
		}
		if err := restore("iptables-restore", egress.Rules(port, now, false)); err != nil {
			log.Printf("updating the container networks %v: %v", now, err)
			continue
		}
		inside = now
	}
}

// hooked reports whether the jump into the chain is in place already (a
// restarted filter must not add it twice).
func hooked(tool, table, chain string) bool {
	return exec.Command(tool, "-w", "-t", table, "-C", chain, "-p", "tcp", "-j", egress.Chain).Run() == nil
}

func restore(tool, rules string) error {
	cmd := exec.Command(tool, "-w", "--noflush")
	cmd.Stdin = bytes.NewReader([]byte(rules))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %v: %s", tool, err, bytes.TrimSpace(out))
	}
	return nil
}

// readyAndWait creates the ready socket and waits for the end (the
// listener failing, or a signal).
func readyAndWait(ctx context.Context, path string, l net.Listener) error {
	os.Remove(path)
	r, err := net.Listen("unix", path)
	if err != nil {
		return err
	}
	defer os.Remove(path)
	go func() {
		for {
			c, err := r.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	<-ctx.Done()
	r.Close()
	return nil
}
