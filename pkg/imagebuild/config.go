package imagebuild

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hardenvm/hardenvm/pkg/adminsettings"
	"github.com/hardenvm/hardenvm/pkg/configimage"
	"github.com/hardenvm/hardenvm/pkg/imagespec"
	"github.com/hardenvm/hardenvm/pkg/keys"
)

// ConfigPartitionSize is the room the disk reserves for the config
// partition, so that `hardenvm config install` can swap in a larger one
// later without touching the partition table.
const ConfigPartitionSize = configimage.MaxImageSize

// EngineTLSDir is the engine's TLS directory inside the key set
// directory, created by the build when the settings need it.
const EngineTLSDir = "engine-tls"

// configSettingKey is the one key of a spec's settings the build reads.
const configSettingKey = "config"

// configSetting is the spec's settings.config:
//
//	settings:
//	  config:
//	    adminSettings: admin-settings.json   # beside the spec
type configSetting struct {
	AdminSettings string `yaml:"adminSettings"`
}

// buildConfig builds the config partition image from the spec's admin
// settings (adminsettings.Default when it names none) and signs it with the
// admin key.
func buildConfig(ctx context.Context, s *imagespec.Spec, o Options, set *keys.Set) (*configimage.Image, error) {
	var cs configSetting
	if _, err := s.Setting(configSettingKey, &cs); err != nil {
		return nil, err
	}
	co := configimage.Options{Epoch: o.Epoch}
	if cs.AdminSettings != "" {
		p := cs.AdminSettings
		if !filepath.IsAbs(p) {
			p = filepath.Join(s.Dir, p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("build: settings.config.adminSettings: %w", err)
		}
		as, err := adminsettings.Parse(b)
		if err != nil {
			return nil, fmt.Errorf("build: %s: %w", p, err)
		}
		co.Settings = b
		if as.NeedsTLS() {
			// Certificates are valid from now (not the build epoch,
			// which may be 1970); the directory is reused afterwards,
			// so builds with the same key set stay reproducible.
			if co.TLS, _, err = configimage.LoadOrCreateTLS(filepath.Join(o.Keys, EngineTLSDir), time.Now()); err != nil {
				return nil, err
			}
		}
	}
	im, err := configimage.Build(ctx, co)
	if err != nil {
		return nil, fmt.Errorf("build: config partition: %w", err)
	}
	if err := im.Sign(ctx, set.Get(keys.Admin)); err != nil {
		return nil, err
	}
	return im, nil
}
