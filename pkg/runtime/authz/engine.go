package authz

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/hardenvm/hardenvm/pkg/runtime"
)

// EngineImages looks images up in the engine over its API socket
// (GET /images/{ref}/json). The plugin's own call passes through the
// plugin too, as a plain inspect.
func EngineImages(socket string) func(string) (*runtime.Image, error) {
	c := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		}},
	}
	return func(ref string) (*runtime.Image, error) {
		if ref == "" || strings.ContainsAny(ref, "?# \t\n") {
			return nil, fmt.Errorf("image reference %q", ref)
		}
		resp, err := c.Get("http://docker/images/" + ref + "/json")
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("engine: %s: %s", resp.Status, strings.TrimSpace(string(b)))
		}
		var img struct {
			ID          string `json:"Id"`
			RepoDigests []string
			RepoTags    []string
		}
		if err := json.Unmarshal(b, &img); err != nil {
			return nil, fmt.Errorf("engine: image %s: %w", ref, err)
		}
		return &runtime.Image{ID: img.ID, RepoDigests: img.RepoDigests, RepoTags: img.RepoTags}, nil
	}
}
