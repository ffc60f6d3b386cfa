package bootparams

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestGuestRoundTrip(t *testing.T) {
	g := Guest{ConsoleUser: "console", Data: []string{"/var/lib/docker"}, Services: []Service{
		{Name: "dockerd", Command: "/usr/sbin/dockerd", Depends: []string{"containerd"}, Restart: RestartAlways},
		{Name: "containerd", Command: "/usr/bin/containerd", Env: map[string]string{"A": "b"}},
		{Name: "ready", Command: "/usr/bin/busybox", Args: []string{"echo", "up"}, Restart: RestartNever, User: "console"},
	}}
	b, err := MarshalGuest(g)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseGuest(b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(g, got); diff != "" {
		t.Errorf("diff (-want +got):\n%s", diff)
	}
	order, _ := got.StartOrder()
	var names []string
	for _, s := range order {
		names = append(names, s.Name)
	}
	if want := []string{"containerd", "dockerd", "ready"}; !cmp.Equal(names, want) {
		t.Errorf("StartOrder = %v, want %v", names, want)
	}
}

func TestGuestRefuses(t *testing.T) {
	for _, tt := range []struct{ json, want string }{
		{`{"services":[{"name":"a","command":"/a"},{"name":"a","command":"/b"}]}`, "twice"},
		{`{"services":[{"name":"a","command":"a"}]}`, "absolute"},
		{`{"services":[{"name":"a/b","command":"/a"}]}`, "bad name"},
		{`{"services":[{"name":"a","command":"/a","restart":"sometimes"}]}`, "restart"},
		{`{"services":[{"name":"a","command":"/a","depends":["x"]}]}`, "unknown service x"},
		{`{"services":[{"name":"a","command":"/a","depends":["b"]},{"name":"b","command":"/b","depends":["a"]}]}`, "cycle"},
		{`{"services":[],"extra":1}`, "unknown field"},
		{`{} {}`, "trailing"},
		{`{"data":["var/lib/docker"]}`, "data directory"},
		{`{"data":["/var/../etc"]}`, "data directory"},
		{`{"data":["/"]}`, "data directory"},
	} {
		if _, err := ParseGuest([]byte(tt.json)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseGuest(%s) = %v, want %q", tt.json, err, tt.want)
		}
	}
}
