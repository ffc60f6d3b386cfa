// Package configpart is the on-disk layout of the hardenvm config
// partition and the admin's signature over it. One partition holds, from
// offset 0:
//
//	EROFS image        the settings files; its superblock's block count gives its size D
//	verity superblock  at D, veritysetup format 1 (sha256, 4096-byte blocks)
//	verity hash tree   right after it; HashSize bytes from D in all
//	signature block    at D+HashSize, 4096 bytes: JSON, NUL-padded
//
// so the data and the hash tree share the device (the kernel table's
// hash_start_block is D/4096+1) and a config built elsewhere can be written
// into an existing partition of at least Size bytes; the rest is ignored.
//
// The signature block is a small JSON object in the spirit of the
// Discoverable Partitions verity-sig partition:
//
//	{"format": "hardenvm-config-v1", "rootHash": "<hex>", "dataBlocks": N,
//	 "signature": "<base64 ASN.1 ECDSA>", "certificateFingerprint": "<sha256 hex of the cert DER>"}
//
// The signature is ECDSA (the admin key, P-256) over SHA-256 of Message:
// the root hash and the number of data blocks, so that the tree's geometry
// is signed too. Unlike the Discoverable Partitions format it is not
// PKCS#7: the guest init verifies it with the standard library alone.
// An unsigned image (hardenvm config build) has an empty signature.
//
// The package uses only the standard library and pkg/verity: the guest
// init links it.
package configpart

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/hardenvm/hardenvm/pkg/verity"
)

// Format names this layout in the signature block.
const Format = "hardenvm-config-v1"

// BlockSize is the EROFS, verity data and hash block size.
const BlockSize = 4096

// SigBlockSize is the size of the signature block.
const SigBlockSize = 4096

// Errors callers test for.
var (
	ErrUnsigned = errors.New("the config partition is not signed")
	ErrNotOurs  = errors.New("the config partition is not signed by the admin key")
)

// Signature is the signature block.
type Signature struct {
	Format                 string `json:"format"`
	RootHash               string `json:"rootHash"`
	DataBlocks             uint64 `json:"dataBlocks"`
	Signature              string `json:"signature"`
	CertificateFingerprint string `json:"certificateFingerprint"`
}

// Message is what the admin key signs (its SHA-256).
func Message(rootHash []byte, dataBlocks uint64) []byte {
	return fmt.Appendf(nil, "%s\nroot-hash %x\ndata-blocks %d\n", Format, rootHash, dataBlocks)
}

// Fingerprint is the SHA-256 of a certificate's DER, hex.
func Fingerprint(cert *x509.Certificate) string {
	s := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(s[:])
}

// Sign makes the signature block for a tree with the admin key.
func Sign(key crypto.Signer, cert *x509.Certificate, rootHash []byte, dataBlocks uint64) (Signature, error) {
	if _, ok := key.Public().(*ecdsa.PublicKey); !ok {
		return Signature{}, fmt.Errorf("config signature: the admin key is %T, want ECDSA", key.Public())
	}
	if !publicEqual(key.Public(), cert.PublicKey) {
		return Signature{}, errors.New("config signature: the admin key does not belong to the admin certificate")
	}
	d := sha256.Sum256(Message(rootHash, dataBlocks))
	// A key in memory signs deterministically (RFC 6979), so that the
	// same config and key give the same partition and the image stays
	// reproducible; other signers (tokens) get randomness.
	var random io.Reader = rand.Reader
	if _, ok := key.(*ecdsa.PrivateKey); ok {
		random = nil
	}
	sig, err := key.Sign(random, d[:], crypto.SHA256)
	if err != nil {
		return Signature{}, fmt.Errorf("config signature: %w", err)
	}
	return Signature{Format: Format, RootHash: hex.EncodeToString(rootHash), DataBlocks: dataBlocks,
		Signature: base64.StdEncoding.EncodeToString(sig), CertificateFingerprint: Fingerprint(cert)}, nil
}

func publicEqual(a, b crypto.PublicKey) bool {
	e, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(b)
}

// Verify checks the signature with the admin certificate and returns the
// signed root hash.
func (s Signature) Verify(cert *x509.Certificate) ([]byte, error) {
	if s.Signature == "" {
		return nil, ErrUnsigned
	}
	if s.Format != Format {
		return nil, fmt.Errorf("config signature: format %q, want %q", s.Format, Format)
	}
	root, err := hex.DecodeString(s.RootHash)
	if err != nil || len(root) != sha256.Size {
		return nil, fmt.Errorf("config signature: root hash %q: want 64 hex digits", s.RootHash)
	}
	if fp := Fingerprint(cert); s.CertificateFingerprint != fp {
		return nil, fmt.Errorf("%w: it names certificate %s, the admin certificate is %s", ErrNotOurs, s.CertificateFingerprint, fp)
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("config signature: the admin certificate has a %T key, want ECDSA", cert.PublicKey)
	}
	sig, err := base64.StdEncoding.DecodeString(s.Signature)
	if err != nil {
		return nil, fmt.Errorf("config signature: bad base64: %w", err)
	}
	d := sha256.Sum256(Message(root, s.DataBlocks))
	if !ecdsa.VerifyASN1(pub, d[:], sig) {
		return nil, fmt.Errorf("%w: the signature does not verify with certificate %s", ErrNotOurs, Fingerprint(cert))
	}
	return root, nil
}

// MarshalBlock encodes the signature block (NUL-padded to SigBlockSize).
func (s Signature) MarshalBlock() ([]byte, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	if len(b) > SigBlockSize {
		return nil, fmt.Errorf("config signature: BUG: %d bytes do not fit the %d-byte block", len(b), SigBlockSize)
	}
	out := make([]byte, SigBlockSize)
	copy(out, b)
	return out, nil
}

// ParseBlock decodes a signature block strictly.
func ParseBlock(b []byte) (Signature, error) {
	b = bytes.TrimRight(b, "\x00")
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var s Signature
	if err := dec.Decode(&s); err != nil {
		return Signature{}, fmt.Errorf("config signature block: %w", err)
	}
	if dec.More() {
		return Signature{}, errors.New("config signature block: trailing data")
	}
	if s.Format != Format {
		return Signature{}, fmt.Errorf("config signature block: format %q, want %q", s.Format, Format)
	}
	return s, nil
}

// Layout is where the parts of a config partition are.
type Layout struct {
	DataSize  int64         // the EROFS image: verity data blocks 0…DataSize/4096-1
	Verity    verity.Result // the tree (superblock at DataSize); RootHash from the signature block
	SigOffset int64         // the signature block
	Size      int64         // the whole layout: SigOffset + SigBlockSize
	Signature Signature
}

// EROFS superblock fields used to find the image's end.
const (
	erofsSuperOffset = 1024
	erofsMagic       = 0xE0F5E1E2
)

// Read finds the layout on a partition (or image file) of size bytes and
// reads the signature block. Nothing it returns is trusted yet: Verify
// checks the signature, Check the tree.
func Read(r io.ReaderAt, size int64) (*Layout, error) {
	sb := make([]byte, 64)
	if _, err := r.ReadAt(sb, erofsSuperOffset); err != nil {
		return nil, fmt.Errorf("reading the EROFS superblock: %w", err)
	}
	le := binary.LittleEndian
	if le.Uint32(sb) != erofsMagic {
		return nil, fmt.Errorf("no EROFS image at its start (magic %#x): not a hardenvm config partition", le.Uint32(sb))
	}
	if sb[12] != 12 {
		return nil, fmt.Errorf("EROFS block size 2^%d, want 4096", sb[12])
	}
	l := &Layout{DataSize: int64(le.Uint32(sb[36:])) * BlockSize}
	if l.DataSize == 0 || l.DataSize+BlockSize > size {
		return nil, fmt.Errorf("the EROFS image claims %d bytes, the partition has %d", l.DataSize, size)
	}
	vsb, err := verity.ReadSuperblock(io.NewSectionReader(r, l.DataSize, size-l.DataSize))
	if err != nil {
		return nil, fmt.Errorf("at byte %d: %w", l.DataSize, err)
	}
	if vsb.Algorithm != "sha256" || vsb.DataBlockSize != BlockSize || vsb.HashBlockSize != BlockSize {
		return nil, fmt.Errorf("verity tree %s with %d/%d-byte blocks, want sha256 with 4096", vsb.Algorithm, vsb.DataBlockSize, vsb.HashBlockSize)
	}
	if int64(vsb.DataBlocks)*BlockSize != l.DataSize {
		return nil, fmt.Errorf("the verity tree covers %d blocks, the EROFS image has %d", vsb.DataBlocks, l.DataSize/BlockSize)
	}
	if l.Verity, err = vsb.Result(nil); err != nil {
		return nil, err
	}
	l.SigOffset = l.DataSize + l.Verity.HashSize
	l.Size = l.SigOffset + SigBlockSize
	if l.Size > size {
		return nil, fmt.Errorf("the layout needs %d bytes, the partition has %d", l.Size, size)
	}
	blk := make([]byte, SigBlockSize)
	if _, err := r.ReadAt(blk, l.SigOffset); err != nil {
		return nil, fmt.Errorf("reading the signature block: %w", err)
	}
	if l.Signature, err = ParseBlock(blk); err != nil {
		return nil, err
	}
	if l.Signature.DataBlocks != vsb.DataBlocks {
		return nil, fmt.Errorf("the signature block is for %d data blocks, the tree has %d", l.Signature.DataBlocks, vsb.DataBlocks)
	}
	return l, nil
}

// Verify checks the signature with the admin certificate, then every block
// of the data and tree against the signed root hash. It returns the
// layout with Verity.RootHash set and HashStartBlock relative to the
// partition (for the kernel table with the partition as both devices).
func Verify(ctx context.Context, r io.ReaderAt, size int64, cert *x509.Certificate) (*Layout, error) {
	l, err := Read(r, size)
	if err != nil {
		return nil, err
	}
	root, err := l.Signature.Verify(cert)
	if err != nil {
		return nil, err
	}
	if err := l.Check(ctx, r, root); err != nil {
		return nil, err
	}
	return l, nil
}

// Check verifies the data and the tree against rootHash and records it.
func (l *Layout) Check(ctx context.Context, r io.ReaderAt, rootHash []byte) error {
	res, err := verity.Verify(ctx, io.NewSectionReader(r, 0, l.DataSize), l.DataSize,
		io.NewSectionReader(r, l.DataSize, l.Verity.HashSize), l.Verity.HashSize, rootHash)
	if err != nil {
		return fmt.Errorf("the contents do not match the signed root hash %x: %w", rootHash, err)
	}
	res.HashStartBlock = uint64(l.DataSize/BlockSize) + 1
	l.Verity = res
	return nil
}
