package debarchive

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/hardenvm/hardenvm/pkg/deb822"
)

// DefaultKeyring is the host's Debian archive keyring (package
// debian-archive-keyring).
const DefaultKeyring = "/usr/share/keyrings/debian-archive-keyring.gpg"

// Release is the verified content of a suite's InRelease file.
type Release struct {
	// Name is the suite it was fetched as; Suite and Codename are what the
	// file says of itself (one of them equals Name).
	Name            string
	Suite, Codename string
	Date            time.Time
	ValidUntil      time.Time // zero when absent
	AcquireByHash   bool
	Components      []string
	Architectures   []string
	// Files maps a path below dists/<suite>/ to its sha256 and size.
	Files map[string]FileHash
	// SHA256 is the digest of the whole InRelease file as fetched;
	// SignedBy the fingerprint of the key whose signature was checked.
	SHA256   string
	SignedBy string
}

// FileHash is one line of a Release file's SHA256 section.
type FileHash struct {
	SHA256 string
	Size   int64
}

// LoadKeyring reads an OpenPGP keyring, binary (.gpg) or ASCII-armored (.asc).
func LoadKeyring(path string) (openpgp.EntityList, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	var kr openpgp.EntityList
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte("-----BEGIN PGP")) {
		kr, err = openpgp.ReadArmoredKeyRing(bytes.NewReader(data))
	} else {
		kr, err = openpgp.ReadKeyRing(bytes.NewReader(data))
	}
	if err != nil {
		return nil, fmt.Errorf("keyring %s: %w", path, err)
	}
	if len(kr) == 0 {
		return nil, fmt.Errorf("keyring %s: no keys", path)
	}
	return kr, nil
}

// ErrBadSignature marks an InRelease whose signature does not verify.
var ErrBadSignature = errors.New("OpenPGP signature does not verify")

// VerifyInRelease checks the clearsigned InRelease data against keyring at
// time now and parses the signed part. name labels errors (the file's path
// in the archive). Only the signed text is read: anything around the
// clearsigned block makes the file invalid.
func VerifyInRelease(name string, data []byte, keyring openpgp.KeyRing, now time.Time) (*Release, error) {
	sum := sha256.Sum256(data)
	digest := hex.EncodeToString(sum[:])
	block, rest := clearsign.Decode(data)
	if block == nil || len(bytes.TrimSpace(rest)) != 0 || !bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte("-----BEGIN PGP SIGNED MESSAGE-----")) {
		return nil, fmt.Errorf("%s (sha256 %s): not a single clearsigned OpenPGP message: %w", name, digest, ErrBadSignature)
	}
	cfg := &packet.Config{Time: func() time.Time { return now }}
	sigBytes, err := readAll(block.ArmoredSignature)
	if err != nil {
		return nil, fmt.Errorf("%s (sha256 %s): reading the signature: %v: %w", name, digest, err, ErrBadSignature)
	}
	_, signer, err := openpgp.VerifyDetachedSignature(keyring, bytes.NewReader(block.Bytes), bytes.NewReader(sigBytes), cfg)
	if err != nil {
		return nil, fmt.Errorf("%s (sha256 %s): %v%s: %w", name, digest, err, signedDigestHint(keyring, block.Bytes, sigBytes), ErrBadSignature)
	}
	rel, err := parseRelease(name, block.Plaintext)
	if err != nil {
		return nil, err
	}
	rel.SHA256 = digest
	rel.SignedBy = strings.ToUpper(hex.EncodeToString(signer.PrimaryKey.Fingerprint))
	if !rel.ValidUntil.IsZero() && now.After(rel.ValidUntil) {
		return nil, fmt.Errorf("%s: expired on %s (Valid-Until): the mirror serves a stale suite", name, rel.ValidUntil.Format(time.RFC1123))
	}
	return rel, nil
}

func readAll(b *armor.Block) ([]byte, error) {
	var buf bytes.Buffer
	_, err := buf.ReadFrom(b.Body)
	return buf.Bytes(), err
}

// signedDigestHint explains a failed signature by digests: the first bytes
// of the digest each known signature was made over (its hash tag) against
// the digest of the text actually served. A mismatch means the text was
// changed; a match means the signature itself was.
func signedDigestHint(keyring openpgp.KeyRing, text, sigBytes []byte) string {
	pr := packet.NewReader(bytes.NewReader(sigBytes))
	for {
		p, err := pr.Next()
		if err != nil {
			return ""
		}
		sig, ok := p.(*packet.Signature)
		if !ok || sig.IssuerKeyId == nil || len(keyring.KeysById(*sig.IssuerKeyId)) == 0 || sig.Version != 4 {
			continue
		}
		h, err := sig.PrepareVerify()
		if err != nil {
			return ""
		}
		w := h
		if sig.SigType == packet.SigTypeText {
			w = openpgp.NewCanonicalTextHash(h)
		}
		w.Write(text)
		h.Write(sig.HashSuffix)
		got := h.Sum(nil)
		return fmt.Sprintf(" (signature by key %016X over a %s digest starting %x; the served text's digest is %x)",
			*sig.IssuerKeyId, hashName(sig.Hash), sig.HashTag[:], got)
	}
}

func hashName(h crypto.Hash) string {
	return strings.ToLower(strings.ReplaceAll(h.String(), "-", ""))
}

// parseRelease reads the fields of a (verified) Release text.
func parseRelease(name string, text []byte) (*Release, error) {
	p, err := deb822.NewReader(bytes.NewReader(text), name).Next()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	r := &Release{
		Suite:         p["Suite"],
		Codename:      p["Codename"],
		AcquireByHash: p["Acquire-By-Hash"] == "yes",
		Components:    strings.Fields(p["Components"]),
		Architectures: strings.Fields(p["Architectures"]),
		Files:         map[string]FileHash{},
	}
	if d := p["Date"]; d != "" {
		if r.Date, err = parseDate(d); err != nil {
			return nil, fmt.Errorf("%s: Date: %w", name, err)
		}
	}
	if d := p["Valid-Until"]; d != "" {
		if r.ValidUntil, err = parseDate(d); err != nil {
			return nil, fmt.Errorf("%s: Valid-Until: %w", name, err)
		}
	}
	for line := range strings.SplitSeq(p["SHA256"], "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 3 || len(f[0]) != 64 {
			return nil, fmt.Errorf("%s: SHA256: malformed line %q", name, line)
		}
		size, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil || size < 0 {
			return nil, fmt.Errorf("%s: SHA256: bad size in %q", name, line)
		}
		r.Files[f[2]] = FileHash{SHA256: strings.ToLower(f[0]), Size: size}
	}
	if len(r.Files) == 0 {
		return nil, fmt.Errorf("%s: no SHA256 file list: cannot verify the indexes", name)
	}
	return r, nil
}

func parseDate(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC1123, time.RFC1123Z, "Mon, 2 Jan 2006 15:04:05 MST", "Mon, 2 Jan 2006 15:04:05 -0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not an RFC 1123 date", s)
}
