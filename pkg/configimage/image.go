package configimage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hardenvm/hardenvm/internal/atomicfile"
	"github.com/hardenvm/hardenvm/internal/readfile"
	"github.com/hardenvm/hardenvm/pkg/adminsettings"
	"github.com/hardenvm/hardenvm/pkg/configpart"
	"github.com/hardenvm/hardenvm/pkg/erofs"
	"github.com/hardenvm/hardenvm/pkg/fstree"
	"github.com/hardenvm/hardenvm/pkg/keys"
	"github.com/hardenvm/hardenvm/pkg/manifest"
	"github.com/hardenvm/hardenvm/pkg/verity"
)

// Options are the inputs of a config image.
type Options struct {
	// Settings is admin-settings.json; nil means adminsettings.Default.
	Settings []byte
	// TLS is the engine's server material, required when the settings
	// put the engine on TCP, refused otherwise (a key nobody uses should
	// not be shipped).
	TLS *TLS
	// Epoch is every timestamp in the image (SOURCE_DATE_EPOCH).
	Epoch time.Time
}

// Image is a built (and maybe signed) config partition image.
type Image struct {
	Bytes    []byte
	Layout   *configpart.Layout
	Settings adminsettings.Settings
}

// Build validates the settings and lays out the image: EROFS with
// admin-settings.json, daemon.json, runtime.json and tls/, its verity tree
// and an unsigned signature block. The same inputs give the same bytes.
func Build(ctx context.Context, o Options) (*Image, error) {
	raw := o.Settings
	if raw == nil {
		var err error
		if raw, err = adminsettings.Default().Marshal(); err != nil {
			return nil, err
		}
	}
	s, err := adminsettings.Parse(raw)
	if err != nil {
		return nil, err
	}
	if o.Epoch.IsZero() {
		return nil, errors.New("config: Options.Epoch is required")
	}
	daemon, err := s.DaemonJSON()
	if err != nil {
		return nil, err
	}
	rt, err := json.MarshalIndent(RuntimeSettings(s), "", "  ")
	if err != nil {
		return nil, fmt.Errorf("config: runtime settings: %w", err)
	}
	if err := RuntimeSettings(s).Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	t := fstree.New()
	file := fstree.Header{Mode: 0o644, Mtime: o.Epoch}
	dir := fstree.Header{Mode: 0o755, Mtime: o.Epoch}
	t.Root().Mode, t.Root().Mtime = 0o755, o.Epoch
	for _, f := range []struct {
		name string
		data []byte
	}{{adminsettings.SettingsFile, raw}, {adminsettings.DaemonFile, daemon}, {adminsettings.RuntimeFile, append(rt, '\n')}} {
		if err := t.WriteFile(f.name, file, fstree.Bytes(f.data)); err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
	}
	switch {
	case s.NeedsTLS() && o.TLS == nil:
		return nil, fmt.Errorf("config: the settings put the engine on TCP (%v) but no TLS material was given: pass a TLS directory (it is created when missing)", s.Daemon().TCPHosts())
	case !s.NeedsTLS() && o.TLS != nil:
		return nil, errors.New("config: TLS material given but the settings have no tcp:// host: leave it out")
	case o.TLS != nil:
		if _, err := t.MkdirAll("tls", dir); err != nil {
			return nil, err
		}
		for _, f := range []struct {
			name string
			data []byte
			mode uint32
		}{{adminsettings.CAFile, o.TLS.CA, 0o644}, {adminsettings.ServerCertFile, o.TLS.ServerCert, 0o644},
			{adminsettings.ServerKeyFile, o.TLS.ServerKey, 0o600}} {
			if err := t.WriteFile(f.name, fstree.Header{Mode: f.mode, Mtime: o.Epoch}, fstree.Bytes(f.data)); err != nil {
				return nil, fmt.Errorf("config: %w", err)
			}
		}
	}
	var w buffer
	fs, err := erofs.Write(&w, t, erofs.Options{Epoch: o.Epoch, VolumeName: "hardenvm-config"})
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	data := bytes.Clone(w.b[:fs.Size])
	hw := &buffer{}
	res, err := verity.Format(ctx, bytes.NewReader(data), fs.Size, hw, verity.Params{})
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	sig := configpart.Signature{Format: configpart.Format, RootHash: hex.EncodeToString(res.RootHash), DataBlocks: res.DataBlocks}
	blk, err := sig.MarshalBlock()
	if err != nil {
		return nil, err
	}
	img := append(append(data, hw.b[:res.HashSize]...), blk...)
	l, err := configpart.Read(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		return nil, fmt.Errorf("config: BUG: reading back the layout: %w", err)
	}
	if err := l.Check(ctx, bytes.NewReader(img), res.RootHash); err != nil {
		return nil, fmt.Errorf("config: BUG: %w", err)
	}
	return &Image{Bytes: img, Layout: l, Settings: s}, nil
}

// Sign checks the image's tree against the root hash its signature block
// states, then replaces the block with the admin key's signature.
func (im *Image) Sign(ctx context.Context, admin *keys.Key) error {
	if admin.Cert == nil {
		return errors.New("config: the admin key has no certificate")
	}
	l, err := configpart.Read(bytes.NewReader(im.Bytes), int64(len(im.Bytes)))
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	root, err := hex.DecodeString(l.Signature.RootHash)
	if err != nil {
		return fmt.Errorf("config: root hash %q in the signature block: %w", l.Signature.RootHash, err)
	}
	// Never sign a root hash the contents do not have.
	if err := l.Check(ctx, bytes.NewReader(im.Bytes), root); err != nil {
		return fmt.Errorf("config: refusing to sign: %w", err)
	}
	sig, err := configpart.Sign(admin.Signer, admin.Cert, root, l.Verity.DataBlocks)
	if err != nil {
		return err
	}
	blk, err := sig.MarshalBlock()
	if err != nil {
		return err
	}
	copy(im.Bytes[l.SigOffset:], blk)
	l.Signature = sig
	im.Layout = l
	return nil
}

// MaxImageSize bounds a config image: the room the build reserves for
// the config partition.
const MaxImageSize = 8 << 20

// ReadImage reads a config image file: its layout from the headers first,
// then only the bytes the layout covers (at most MaxImageSize), so that a
// huge or sparse file, a FIFO or a device is refused without reading it.
func ReadImage(path string) (*Image, error) {
	f, err := readfile.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	l, err := configpart.Read(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("config: %s: %w", path, err)
	}
	if l.Size > MaxImageSize {
		return nil, fmt.Errorf("config: %s: the image claims %d bytes, a config image has at most %d", path, l.Size, MaxImageSize)
	}
	b := make([]byte, l.Size)
	if _, err := f.ReadAt(b, 0); err != nil {
		return nil, fmt.Errorf("config: reading %s: %w", path, err)
	}
	return &Image{Bytes: b, Layout: l}, nil
}

// Write stores the image atomically.
func (im *Image) Write(path string) error {
	return atomicfile.WriteFile(path, im.Bytes, 0o644)
}

// Verify checks a config image: the admin signature with cert, and every
// data and hash block against the signed root hash.
func Verify(ctx context.Context, b []byte, cert *x509.Certificate) (*configpart.Layout, error) {
	return configpart.Verify(ctx, bytes.NewReader(b), int64(len(b)), cert)
}

// Describe is the manifest entry of a signed config image.
func Describe(im *Image) *manifest.Config {
	l := im.Layout
	sum := sha256.Sum256(im.Bytes[:l.Size])
	return &manifest.Config{RootHash: l.Signature.RootHash, DataBlocks: l.Verity.DataBlocks, Size: l.Size,
		SHA256: hex.EncodeToString(sum[:]), Signer: l.Signature.CertificateFingerprint}
}

// buffer is a growable io.WriterAt.
type buffer struct{ b []byte }

func (w *buffer) WriteAt(p []byte, off int64) (int, error) {
	if end := int(off) + len(p); end > len(w.b) {
		w.b = append(w.b, make([]byte, end-len(w.b))...)
	}
	return copy(w.b[off:], p), nil
}
