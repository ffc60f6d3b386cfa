package provenance

import (
	"crypto"
	"fmt"

	"github.com/hardenvm/hardenvm/internal/atomicfile"
	"github.com/hardenvm/hardenvm/pkg/sign"
)

// Write signs the statement of in with key and writes the bundle to path.
func Write(path string, in Input, key crypto.Signer) error {
	st, err := Statement(in)
	if err != nil {
		return err
	}
	b, err := sign.SignDSSE(sign.InTotoPayloadType, st, key)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("provenance: %w", err)
	}
	return nil
}

// Verify checks a provenance bundle's signature against pub and parses the
// statement it signs. It does not compare the subjects with the files
// (pkg/imagedir does).
func Verify(bundle []byte, pub crypto.PublicKey) (*Parsed, error) {
	typ, payload, err := sign.VerifyDSSE(bundle, pub)
	if err != nil {
		return nil, err
	}
	if typ != sign.InTotoPayloadType {
		return nil, fmt.Errorf("payload type %q, want %s", typ, sign.InTotoPayloadType)
	}
	return Parse(payload)
}
