package portfwd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeForwarder records the ports opened and closed.
type fakeForwarder struct {
	mu  sync.Mutex
	log []string
}

func (f *fakeForwarder) Open(pt Port) (io.Closer, error) {
	f.record("open %s %d", pt.Proto, pt.Port)
	return closer(func() error { f.record("close %s %d", pt.Proto, pt.Port); return nil }), nil
}

type closer func() error

func (c closer) Close() error { return c() }

func (f *fakeForwarder) record(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log = append(f.log, fmt.Sprintf(format, args...))
}

func (f *fakeForwarder) get() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.log...)
}

// engine is a fake engine API: containers with their ports, and an event
// stream the test feeds.
type engine struct {
	mu     sync.Mutex
	ctrs   map[string]string // id -> Ports JSON
	events chan string
}

func (e *engine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/events":
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		for {
			select {
			case ev := <-e.events:
				if ev == "" { // the stream breaks
					return
				}
				fmt.Fprintln(w, ev)
				w.(http.Flusher).Flush()
			case <-r.Context().Done():
				return
			}
		}
	case "/containers/json":
		var f struct{ ID []string }
		json.Unmarshal([]byte(r.URL.Query().Get("filters")), &f)
		e.mu.Lock()
		var out []string
		for id, ports := range e.ctrs {
			if len(f.ID) == 0 || f.ID[0] == id {
				out = append(out, fmt.Sprintf(`{"Id":%q,"Ports":%s}`, id, ports))
			}
		}
		e.mu.Unlock()
		fmt.Fprintf(w, "[%s]", strings.Join(out, ","))
	default:
		http.NotFound(w, r)
	}
}

func TestPublisher(t *testing.T) {
	e := &engine{ctrs: map[string]string{
		"aaa": `[{"IP":"0.0.0.0","PrivatePort":80,"PublicPort":8080,"Type":"tcp"},{"IP":"::","PrivatePort":80,"PublicPort":8080,"Type":"tcp"},{"PrivatePort":443,"Type":"tcp"}]`,
	}, events: make(chan string)}
	srv := httptest.NewServer(e)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "tcp", srv.Listener.Addr().String())
	}}}
	vm := &fakeForwarder{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go (&Publisher{Engine: client, Forward: vm}).Run(ctx)

	wait := func(want []string) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			if cmp.Equal(want, vm.get()) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("forwards (-want +got):\n%s", cmp.Diff(want, vm.get()))
			}
		}
	}
	// Already running: published once, though bound on 0.0.0.0 and ::.
	want := []string{"open tcp 8080"}
	wait(want)

	// Another container shares 8080 and adds a UDP port; one bound to a
	// single other address of the VM is not published.
	e.mu.Lock()
	e.ctrs["bbb"] = `[{"IP":"0.0.0.0","PublicPort":8080,"Type":"tcp"},{"IP":"0.0.0.0","PublicPort":5353,"Type":"udp"},{"IP":"172.17.0.1","PublicPort":7000,"Type":"tcp"}]`
	e.mu.Unlock()
	e.events <- `{"Type":"container","Action":"start","Actor":{"ID":"bbb"}}`
	want = append(want, "open udp 5353")
	wait(want)

	// The first stops: 8080 stays for the second; then the second stops.
	e.events <- `{"Type":"container","Action":"die","Actor":{"ID":"aaa"}}`
	e.events <- `{"Type":"container","Action":"die","Actor":{"ID":"bbb"}}`
	want = append(want, "close tcp 8080", "close udp 5353")
	wait(want)

	// A container that stops while the event stream is down loses its
	// port when the stream is back.
	e.mu.Lock()
	e.ctrs = map[string]string{"ccc": `[{"IP":"127.0.0.1","PublicPort":9090,"Type":"tcp"}]`}
	e.mu.Unlock()
	e.events <- `{"Type":"container","Action":"start","Actor":{"ID":"ccc"}}`
	want = append(want, "open tcp 9090")
	wait(want)
	e.mu.Lock()
	delete(e.ctrs, "ccc")
	e.mu.Unlock()
	e.events <- ""
	want = append(want, "close tcp 9090")
	wait(want)
}
