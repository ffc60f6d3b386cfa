package imagedir

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/hardenvm/hardenvm/internal/ctxio"
	"github.com/hardenvm/hardenvm/internal/readfile"
	"github.com/hardenvm/hardenvm/pkg/manifest"
)

// ErrNotRegular is matched by OpenArtifact's refusals: a name that leaves
// the directory, or is not a regular file once its links are followed.
var ErrNotRegular = errors.New("not a regular file inside the image directory")

// OpenArtifact opens the file name of the image directory dir for
// reading. name must be a plain file name; symbolic links are followed
// only while they stay inside dir, and what they reach must be a regular
// file: a link to /etc/shadow, /dev/zero or a FIFO is refused (without
// blocking on the FIFO).
func OpenArtifact(dir, name string) (*os.File, error) {
	if !filepath.IsLocal(name) || strings.ContainsAny(name, `/\`) {
		return nil, fmt.Errorf("%s: %q is not a plain file name: %w", dir, name, ErrNotRegular)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	f, err := root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) && strings.Contains(pe.Err.Error(), "escapes") {
			return nil, fmt.Errorf("%s is a link that leads out of %s: %w", name, dir, ErrNotRegular)
		}
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s in %s is a %s: %w", name, dir, kind(st.Mode()), ErrNotRegular)
	}
	return f, nil
}

func kind(m os.FileMode) string {
	switch {
	case m&os.ModeNamedPipe != 0:
		return "FIFO"
	case m&os.ModeDevice != 0:
		return "device"
	case m&os.ModeSocket != 0:
		return "socket"
	case m.IsDir():
		return "directory"
	}
	return "special file"
}

// ReadArtifact reads the file name of dir (as OpenArtifact opens it),
// refusing one larger than max bytes.
func ReadArtifact(dir, name string, max int64) ([]byte, error) {
	f, err := OpenArtifact(dir, name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readfile.ReadAll(f, max)
}

// HashArtifact hashes the file name of dir (as OpenArtifact opens it).
// With want.Size > 0, a file of another size is not read at all (a 1 TiB
// sparse disk is refused at once): the result then carries its size
// and no digest. The hashing stops when ctx is done.
func HashArtifact(ctx context.Context, dir, name string, want manifest.File) (manifest.File, error) {
	f, err := OpenArtifact(dir, name)
	if err != nil {
		return manifest.File{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return manifest.File{}, err
	}
	if want.Size > 0 && st.Size() != want.Size {
		return manifest.File{Size: st.Size()}, nil
	}
	h := sha256.New()
	n, err := io.Copy(h, ctxio.Reader(ctx, f))
	if err != nil {
		return manifest.File{}, fmt.Errorf("hashing %s: %w", filepath.Join(dir, name), err)
	}
	return manifest.File{SHA256: hex.EncodeToString(h.Sum(nil)), Size: n}, nil
}
