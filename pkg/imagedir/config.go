package imagedir

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hardenvm/hardenvm/pkg/configimage"
	"github.com/hardenvm/hardenvm/pkg/configpart"
	"github.com/hardenvm/hardenvm/pkg/keys"
)

// readConfig reads a config image: a config image file, the config
// partition of a disk image, or that of an image directory's disk. It
// returns what it read, named for errors.
func readConfig(path string) (*configimage.Image, string, error) {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		path = filepath.Join(path, Disk)
	}
	return configimage.ReadFrom(path)
}

// VerifyConfig checks the config image at path (as readConfig reads it)
// with the admin certificate in the file cert: the signature over its root
// hash, then every data and hash block.
func VerifyConfig(ctx context.Context, path, cert string) (*configimage.Image, string, error) {
	admin, err := keys.LoadCert(cert)
	if err != nil {
		return nil, "", fmt.Errorf("config: %w", err)
	}
	im, name, err := readConfig(path)
	if err != nil {
		return nil, "", err
	}
	if _, err := configimage.Verify(ctx, im.Bytes, admin); err != nil {
		if errors.Is(err, configpart.ErrUnsigned) {
			return nil, "", fmt.Errorf("%s: %w: sign it with 'hardenvm config sign'", name, err)
		}
		return nil, "", fmt.Errorf("%s: %w", name, err)
	}
	return im, name, nil
}
