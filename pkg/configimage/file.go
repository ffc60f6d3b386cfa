package configimage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hardenvm/hardenvm/internal/readfile"
	"github.com/hardenvm/hardenvm/pkg/adminsettings"
	"github.com/hardenvm/hardenvm/pkg/keys"
)

// FileOptions are BuildFile's inputs: the settings file, the engine TLS
// directory (needed when the settings put the engine on TCP, created when
// missing), the admin key to sign with at once (nil: unsigned), the
// timestamp of the files and the image to write.
type FileOptions struct {
	Settings, TLSDir string
	Admin            *keys.Key
	Epoch            time.Time
	Out              string
}

// ErrNeedsTLS is BuildFile's refusal of settings that put the engine on
// TCP without a TLS directory.
var ErrNeedsTLS = errors.New("--tls DIR is required (created when missing)")

// BuildFile validates a settings file, builds its config image (signed by
// o.Admin when given) and writes it to o.Out. created names the TLS
// directory when BuildFile created it.
func BuildFile(ctx context.Context, o FileOptions) (im *Image, created string, err error) {
	raw, err := readfile.ReadFile(o.Settings, adminsettings.MaxSize)
	if err != nil {
		return nil, "", fmt.Errorf("config build: %w", err)
	}
	s, err := adminsettings.Parse(raw)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", o.Settings, err)
	}
	bo := Options{Settings: raw, Epoch: o.Epoch}
	if s.NeedsTLS() {
		if o.TLSDir == "" {
			return nil, "", fmt.Errorf("config build: %s puts the engine on TCP %v: %w", o.Settings, s.Daemon().TCPHosts(), ErrNeedsTLS)
		}
		var made bool
		if bo.TLS, made, err = LoadOrCreateTLS(o.TLSDir, time.Now()); err != nil {
			return nil, "", err
		}
		if made {
			created = o.TLSDir
		}
	}
	if im, err = Build(ctx, bo); err != nil {
		return nil, "", err
	}
	if o.Admin != nil {
		if err := im.Sign(ctx, o.Admin); err != nil {
			return nil, "", err
		}
	}
	return im, created, im.Write(o.Out)
}

// SignFile signs the config image at path with the admin key, in place.
func SignFile(ctx context.Context, path string, admin *keys.Key) (*Image, error) {
	im, err := ReadImage(path)
	if err != nil {
		return nil, err
	}
	if err := im.Sign(ctx, admin); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return im, im.Write(path)
}

// Info is what the config commands show of an image.
type Info struct {
	Path       string `json:"path"`
	RootHash   string `json:"rootHash"`
	DataBlocks uint64 `json:"dataBlocks"`
	Size       int64  `json:"size"`
	Signed     bool   `json:"signed"`
	Signer     string `json:"signerSha256,omitempty"`
	TLSDir     string `json:"tlsDir,omitempty"` // the engine TLS directory just created
}

// Info describes the image, named path; tlsDir is the engine TLS
// directory made for it, if one was.
func (im *Image) Info(path, tlsDir string) Info {
	l := im.Layout
	return Info{Path: path, RootHash: l.Signature.RootHash, DataBlocks: l.Verity.DataBlocks, Size: l.Size,
		Signed: l.Signature.Signature != "", Signer: l.Signature.CertificateFingerprint, TLSDir: tlsDir}
}

// Print writes the description for a person.
func (i Info) Print(w io.Writer) error {
	state := "unsigned"
	if i.Signed {
		state = "signed by admin certificate " + i.Signer
	}
	fmt.Fprintf(w, "%s: root hash %s, %d bytes, %s\n", i.Path, i.RootHash, i.Size, state)
	if i.TLSDir != "" {
		fmt.Fprintf(w, "engine TLS created in %s: DOCKER_CERT_PATH=%s DOCKER_TLS_VERIFY=1 for the docker CLI; keep ca-key.pem safe\n", i.TLSDir, i.TLSDir)
	}
	return nil
}
