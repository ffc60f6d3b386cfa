package main

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/hardenvm/hardenvm/boot/bootparams"
)

// readyPoll is how often a readiness check is tried again.
const readyPoll = 200 * time.Millisecond

// waitReady waits until every service with a readiness check passes it,
// each within its own timeout counted from start, and says which did not.
// The engine's socket, for one, exists before the engine answers on it.
func waitReady(order []bootparams.Service, start time.Time) error {
	for _, svc := range order {
		r := svc.Ready
		if r == nil {
			continue
		}
		deadline := start.Add(time.Duration(r.TimeoutSeconds) * time.Second)
		for {
			err := probeReady(r)
			if err == nil {
				say("service %s ready (%.1fs)", svc.Name, time.Since(start).Seconds())
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("service %s not ready after %ds: %v", svc.Name, r.TimeoutSeconds, err)
			}
			time.Sleep(readyPoll)
		}
	}
	return nil
}

// probeReady tries one check: connect to the socket and, with HTTPGet,
// ask for the path and want "200" in the status line.
func probeReady(r *bootparams.Readiness) error {
	c, err := net.DialTimeout("unix", r.Socket, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	if r.HTTPGet == "" {
		return nil
	}
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n", r.HTTPGet); err != nil {
		return err
	}
	status, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("GET %s: %w", r.HTTPGet, err)
	}
	if f := strings.Fields(status); len(f) < 2 || !strings.HasPrefix(f[0], "HTTP/1.") || f[1] != "200" {
		return fmt.Errorf("GET %s: %q", r.HTTPGet, strings.TrimSpace(status))
	}
	return nil
}
