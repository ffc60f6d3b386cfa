package provenance

import (
	"crypto"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hardenvm/hardenvm/internal/atomicfile"
	"github.com/hardenvm/hardenvm/pkg/sign"
)

// ErrMissing means the image directory has no provenance (built before
// provenance was written).
var ErrMissing = errors.New("no provenance")

// Write signs the statement of in with key and writes dir/FileName.
func Write(dir string, in Input, key crypto.Signer) error {
	st, err := Statement(in)
	if err != nil {
		return err
	}
	b, err := sign.SignDSSE(sign.InTotoPayloadType, st, key)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, FileName), b, 0o644); err != nil {
		return fmt.Errorf("provenance: %w", err)
	}
	return nil
}

// Read checks dir/FileName's signature against pub and parses the
// statement it signs. It does not compare the subjects with the files
// (pkg/verify does).
func Read(dir string, pub crypto.PublicKey) (*Parsed, error) {
	b, err := os.ReadFile(filepath.Join(dir, FileName))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrMissing, FileName)
	}
	if err != nil {
		return nil, fmt.Errorf("provenance: %w", err)
	}
	typ, payload, err := sign.VerifyDSSE(b, pub)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", FileName, err)
	}
	if typ != sign.InTotoPayloadType {
		return nil, fmt.Errorf("%s: payload type %q, want %s", FileName, typ, sign.InTotoPayloadType)
	}
	return Parse(payload)
}
