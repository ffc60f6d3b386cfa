// Package portfwd publishes a VM engine's published ports on the host: it
// follows the engine's container events over its API and, while a
// container runs, serves each port it publishes (docker run -p 8080:80,
// -p 127.0.0.1:8080:80) on the host's loopback, closing it when the
// container stops. Ports are published on 127.0.0.1 (and ::1) only: the
// host's other interfaces stay closed.
//
// A TCP port is served by a listener on the host whose connections are
// carried to the same port on the VM's loopback over the engine channel
// (package enginesock), as desktop engines do: that reaches ports the
// engine binds to the VM's 127.0.0.1 as well as to 0.0.0.0, and needs no
// network in the VM. A UDP port is still a QEMU host forward to the VM's
// address (QMP hostfwd_add), so it needs the VM's network and reaches
// only ports bound to all of the VM's addresses.
package portfwd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Forwarder opens the host side of one published port; closing what it
// returns closes it.
type Forwarder interface {
	Open(Port) (io.Closer, error)
}

// VM adds and removes forwards from the host's loopback into the VM
// (vm.Machine does).
type VM interface {
	AddHostForward(proto string, hostPort, guestPort int) error
	RemoveHostForward(proto string, hostPort int) error
}

// Port is one published port.
type Port struct {
	Proto string // "tcp" or "udp"
	Port  int
}

// Publisher keeps the host's forwards equal to the running containers'
// published ports.
type Publisher struct {
	Engine  *http.Client // reaches the engine API at http://engine
	Forward Forwarder
	Log     *slog.Logger

	mu     sync.Mutex
	byCtr  map[string][]Port // container ID -> its forwards
	active map[Port]*open    // forward -> the containers using it
}

type open struct {
	users  int
	closer io.Closer
}

// Run follows the engine until ctx ends, reconnecting (every second at
// most) when the event stream breaks; on each connection it first
// subscribes, then publishes the containers already running.
func (p *Publisher) Run(ctx context.Context) {
	p.mu.Lock()
	p.byCtr, p.active = map[string][]Port{}, map[Port]*open{}
	p.mu.Unlock()
	for ctx.Err() == nil {
		err := p.follow(ctx)
		if ctx.Err() == nil && p.Log != nil {
			p.Log.Debug("engine events", "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	p.mu.Lock()
	ids := slices.Collect(maps.Keys(p.byCtr))
	p.mu.Unlock()
	for _, id := range ids {
		p.unpublish(id)
	}
}

func (p *Publisher) follow(ctx context.Context) error {
	filters := url.QueryEscape(`{"type":["container"],"event":["start","die"]}`)
	req, err := http.NewRequestWithContext(ctx, "GET", "http://engine/events?filters="+filters, nil)
	if err != nil {
		return err
	}
	resp, err := p.Engine.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("events: %s", resp.Status)
	}
	running, err := p.list(ctx, "")
	if err != nil {
		return err
	}
	// Containers that stopped while the stream was down go; those
	// running now come (again).
	p.mu.Lock()
	var gone []string
	for id := range p.byCtr {
		if _, ok := running[id]; !ok {
			gone = append(gone, id)
		}
	}
	p.mu.Unlock()
	for _, id := range gone {
		p.unpublish(id)
	}
	for id, ports := range running {
		p.publish(id, ports)
	}
	dec := json.NewDecoder(resp.Body)
	for {
		var ev struct {
			Action string `json:"Action"`
			Actor  struct {
				ID string `json:"ID"`
			} `json:"Actor"`
		}
		if err := dec.Decode(&ev); err != nil {
			return err
		}
		switch ev.Action {
		case "start":
			got, err := p.list(ctx, ev.Actor.ID)
			if err != nil {
				return err
			}
			p.publish(ev.Actor.ID, got[ev.Actor.ID])
		case "die":
			p.unpublish(ev.Actor.ID)
		}
	}
}

// list returns the published ports of the running containers (of one, when
// id is set), from /containers/json.
func (p *Publisher) list(ctx context.Context, id string) (map[string][]Port, error) {
	u := "http://engine/containers/json"
	if id != "" {
		u += "?filters=" + url.QueryEscape(`{"id":["`+id+`"]}`)
	}
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := p.Engine.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("containers: %s: %s", resp.Status, b)
	}
	var ctrs []struct {
		ID    string `json:"Id"`
		Ports []struct {
			IP         string `json:"IP"`
			PublicPort int    `json:"PublicPort"`
			Type       string `json:"Type"`
		} `json:"Ports"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&ctrs); err != nil {
		return nil, fmt.Errorf("containers: %w", err)
	}
	out := map[string][]Port{}
	for _, c := range ctrs {
		seen := map[Port]bool{}
		for _, pt := range c.Ports {
			// Published on all of the VM's addresses or its loopback;
			// a port bound to one other address of the VM is not the
			// host's to publish.
			if pt.PublicPort == 0 || (pt.IP != "" && pt.IP != "0.0.0.0" && pt.IP != "::" && pt.IP != "127.0.0.1") {
				continue
			}
			if pt.Type != "tcp" && pt.Type != "udp" {
				continue
			}
			k := Port{pt.Type, pt.PublicPort}
			if !seen[k] {
				seen[k] = true
				out[c.ID] = append(out[c.ID], k)
			}
		}
	}
	return out, nil
}

func (p *Publisher) publish(id string, ports []Port) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.byCtr[id]; ok {
		return
	}
	var added []Port
	for _, pt := range ports {
		o := p.active[pt]
		if o == nil {
			c, err := p.Forward.Open(pt)
			if err != nil {
				p.warn("port not published on the host (the container runs on)", pt, err)
				continue
			}
			o = &open{closer: c}
			p.active[pt] = o
			p.info("published port", pt, id)
		}
		o.users++
		added = append(added, pt)
	}
	p.byCtr[id] = added
}

func (p *Publisher) unpublish(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pt := range p.byCtr[id] {
		o := p.active[pt]
		if o.users--; o.users > 0 {
			continue
		}
		delete(p.active, pt)
		if err := o.closer.Close(); err != nil {
			p.warn("closing port", pt, err)
		} else {
			p.info("closed port", pt, id)
		}
	}
	delete(p.byCtr, id)
}

func (p *Publisher) info(msg string, pt Port, id string) {
	if p.Log != nil {
		p.Log.Info(msg, "port", "127.0.0.1:"+strconv.Itoa(pt.Port)+"/"+pt.Proto, "container", id[:min(12, len(id))])
	}
}

func (p *Publisher) warn(msg string, pt Port, err error) {
	if p.Log != nil {
		p.Log.Warn(msg, "port", strconv.Itoa(pt.Port)+"/"+pt.Proto, "err", err)
	}
}
