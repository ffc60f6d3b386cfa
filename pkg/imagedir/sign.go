package imagedir

import (
	"crypto"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hardenvm/hardenvm/internal/atomicfile"
	"github.com/hardenvm/hardenvm/pkg/sign"
)

// Sign signs dir's manifest with key and writes the bundle beside it,
// atomically. The build calls it right after writing the manifest.
func Sign(dir string, key crypto.Signer) error {
	payload, err := os.ReadFile(filepath.Join(dir, Manifest))
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	b, err := sign.SignBytes(payload, key)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, Bundle), b, 0o644); err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	return nil
}

// VerifyBundle checks dir's bundle against its manifest and pub.
func VerifyBundle(dir string, pub crypto.PublicKey) error {
	_, err := VerifiedManifest(dir, pub)
	return err
}

// VerifiedManifest reads dir's manifest once, checks the bundle against
// those bytes and returns them: callers parse what was verified, not a
// second read that could differ.
func VerifiedManifest(dir string, pub crypto.PublicKey) ([]byte, error) {
	payload, err := ReadArtifact(dir, Manifest, MaxManifest)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	bp := filepath.Join(dir, Bundle)
	bundle, err := ReadArtifact(dir, Bundle, MaxBundle)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("sign: %s: the image is not signed (no bundle); sign it with 'hardenvm build' and the artifact-signing key", bp)
		}
		return nil, fmt.Errorf("sign: %w", err)
	}
	if err := sign.VerifyBytes(payload, bundle, pub); err != nil {
		return nil, fmt.Errorf("%s: %w", bp, err)
	}
	return payload, nil
}
