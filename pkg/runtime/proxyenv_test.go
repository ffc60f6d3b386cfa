package runtime

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestProxyEnv: the admin's proxy reaches the container's environment in
// both spellings, except a variable the container sets itself (either
// spelling, empty included).
func TestProxyEnv(t *testing.T) {
	proxy := &Proxy{HTTP: "http://proxy.example:3128", HTTPS: "http://proxy.example:3129", NoProxy: "localhost,.internal"}
	tests := []struct {
		name  string
		proxy *Proxy
		env   []string
		want  []string // the variables after the container's own
	}{
		{"none set", proxy, nil, []string{
			"HTTP_PROXY=http://proxy.example:3128", "http_proxy=http://proxy.example:3128",
			"HTTPS_PROXY=http://proxy.example:3129", "https_proxy=http://proxy.example:3129",
			"NO_PROXY=localhost,.internal", "no_proxy=localhost,.internal"}},
		{"container's own win", proxy, []string{"http_proxy=http://mine:1", "NO_PROXY="}, []string{
			"HTTPS_PROXY=http://proxy.example:3129", "https_proxy=http://proxy.example:3129"}},
		{"only https", &Proxy{HTTPS: "http://p:1"}, nil, []string{"HTTPS_PROXY=http://p:1", "https_proxy=http://p:1"}},
		{"no proxy", nil, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := loadConfig(t, "plain")
			base := append(slices.Clone(in.Process.Env), tt.env...)
			in.Process.Env = slices.Clone(base)
			s := Default()
			s.Proxy = tt.proxy
			res, err := Harden(in, testEnv("c1"), s)
			if err != nil {
				t.Fatal(err)
			}
			got := res.Spec.Process.Env[len(base):]
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b []string) bool { return slices.Equal(a, b) })); diff != "" {
				t.Errorf("added env (-want +got):\n%s", diff)
			}
			if !slices.Equal(res.Spec.Process.Env[:len(base)], base) {
				t.Errorf("the container's own env changed: %v", res.Spec.Process.Env[:len(base)])
			}
		})
	}
}
