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

func TestShares(t *testing.T) {
	good := Shares{Shares: []Share{{ShareTag(0), "/home/a/src"}, {ShareTag(1), "/tmp/x"}}, Host: HostDirs{Home: "/home/a", Temp: "/tmp"}}
	b, err := good.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseShares(b)
	if err != nil || len(got.Shares) != 2 || got.Shares[1] != good.Shares[1] || got.Host != good.Host {
		t.Errorf("ParseShares(Marshal(%+v)) = %+v, %v", good, got, err)
	}
	for _, tt := range []struct{ name, in, want string }{
		{"relative", `{"shares":[{"tag":"hvshare0","path":"src"}]}`, "absolute clean"},
		{"unclean", `{"shares":[{"tag":"hvshare0","path":"/a/../etc"}]}`, "absolute clean"},
		{"root", `{"shares":[{"tag":"hvshare0","path":"/"}]}`, "other than /"},
		{"tag", `{"shares":[{"tag":"x","path":"/a"}]}`, "want \"hvshare0\""},
		{"overlap", `{"shares":[{"tag":"hvshare0","path":"/a"},{"tag":"hvshare1","path":"/a/b"}]}`, "overlap"},
		{"unknown key", `{"shares":[],"extra":1}`, "unknown field"},
		{"host", `{"shares":[],"host":{"home":"home"}}`, "host directory"},
	} {
		if _, err := ParseShares([]byte(tt.in)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: ParseShares = %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
}
