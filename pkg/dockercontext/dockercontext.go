// Package dockercontext writes a docker CLI context, so that
// `docker --context NAME` reaches an engine: the CLI's context store, a
// directory per context under DOCKER_CONFIG/contexts/meta named by the
// sha256 of the context's name, holding meta.json. Only the docker
// endpoint's host is written (no TLS material: hardenvm's host socket is a
// unix socket of the user's own).
package dockercontext

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hardenvm/hardenvm/internal/atomicfile"
)

type meta struct {
	Name      string              `json:"Name"`
	Metadata  map[string]string   `json:"Metadata"`
	Endpoints map[string]endpoint `json:"Endpoints"`
}

type endpoint struct {
	Host          string `json:"Host"`
	SkipTLSVerify bool   `json:"SkipTLSVerify"`
}

// ConfigDir is the docker CLI's configuration directory: $DOCKER_CONFIG,
// else ~/.docker.
func ConfigDir() (string, error) {
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		return d, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("docker context: %w", err)
	}
	return filepath.Join(home, ".docker"), nil
}

// Write creates or replaces the context name in configDir, pointing at
// host (unix:///path/docker.sock).
func Write(configDir, name, host, description string) error {
	if name == "" || name == "default" {
		return fmt.Errorf("docker context %q: pick another name (%q is the CLI's own)", name, "default")
	}
	sum := sha256.Sum256([]byte(name))
	dir := filepath.Join(configDir, "contexts", "meta", hex.EncodeToString(sum[:]))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("docker context %s: %w", name, err)
	}
	b, err := json.Marshal(meta{Name: name, Metadata: map[string]string{"Description": description},
		Endpoints: map[string]endpoint{"docker": {Host: host}}})
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, "meta.json"), b, 0o644); err != nil {
		return fmt.Errorf("docker context %s: %w", name, err)
	}
	return nil
}
