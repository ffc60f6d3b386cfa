package efivars

import (
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/hardenvm/hardenvm/pkg/gpt"
)

// SignatureList is one EFI_SIGNATURE_LIST: signatures of one type and one
// size, each with its owner. PK, KEK, db and dbx hold concatenated lists.
type SignatureList struct {
	Type       gpt.GUID
	Header     []byte // SignatureHeader; empty for every type in use
	Signatures []Signature
}

// Signature is one EFI_SIGNATURE_DATA.
type Signature struct {
	Owner gpt.GUID
	Data  []byte // a DER certificate for CertX509, a digest for CertSHA256
}

const sigListHeaderSize = 28 // SignatureType, SignatureListSize, SignatureHeaderSize, SignatureSize

// ErrSignatureList is wrapped by every signature list parse error.
var ErrSignatureList = errors.New("malformed EFI_SIGNATURE_LIST")

// X509List returns a list holding one certificate, the form edk2,
// efitools' cert-to-efi-sig-list and virt-fw-vars all write (a list's
// signatures share one size, so certificates get a list each).
func X509List(owner gpt.GUID, cert *x509.Certificate) SignatureList {
	return SignatureList{Type: CertX509, Signatures: []Signature{{Owner: owner, Data: cert.Raw}}}
}

// SHA256List returns one list of SHA-256 digests (for dbx entries).
func SHA256List(owner gpt.GUID, digests ...[32]byte) SignatureList {
	l := SignatureList{Type: CertSHA256}
	for _, d := range digests {
		l.Signatures = append(l.Signatures, Signature{Owner: owner, Data: append([]byte(nil), d[:]...)})
	}
	return l
}

// MarshalSignatureLists encodes lists back to back, as variable data.
func MarshalSignatureLists(lists []SignatureList) ([]byte, error) {
	var out []byte
	for i, l := range lists {
		if len(l.Signatures) == 0 {
			return nil, fmt.Errorf("signature list %d: no signatures", i)
		}
		size := len(l.Signatures[0].Data)
		for _, s := range l.Signatures {
			if len(s.Data) != size {
				return nil, fmt.Errorf("signature list %d: signatures of %d and %d bytes: one list holds one size", i, size, len(s.Data))
			}
		}
		total := sigListHeaderSize + len(l.Header) + len(l.Signatures)*(16+size)
		if total > 1<<31 {
			return nil, fmt.Errorf("signature list %d: %d bytes is too large", i, total)
		}
		out = gpt.AppendGUID(out, l.Type)
		out = binary.LittleEndian.AppendUint32(out, uint32(total))
		out = binary.LittleEndian.AppendUint32(out, uint32(len(l.Header)))
		out = binary.LittleEndian.AppendUint32(out, uint32(16+size))
		out = append(out, l.Header...)
		for _, s := range l.Signatures {
			out = gpt.AppendGUID(out, s.Owner)
			out = append(out, s.Data...)
		}
	}
	return out, nil
}

// ParseSignatureLists decodes variable data made of EFI_SIGNATURE_LISTs.
// Empty data is no lists.
func ParseSignatureLists(b []byte) ([]SignatureList, error) {
	var lists []SignatureList
	for off := 0; off < len(b); {
		rest := b[off:]
		if len(rest) < sigListHeaderSize {
			return nil, fmt.Errorf("%w at offset %d: %d bytes left, a list header needs %d", ErrSignatureList, off, len(rest), sigListHeaderSize)
		}
		var l SignatureList
		l.Type = gpt.DecodeGUID(rest)
		listSize := binary.LittleEndian.Uint32(rest[16:])
		hdrSize := binary.LittleEndian.Uint32(rest[20:])
		sigSize := binary.LittleEndian.Uint32(rest[24:])
		switch {
		case uint64(listSize) > uint64(len(rest)):
			return nil, fmt.Errorf("%w at offset %d: size %d, only %d bytes left", ErrSignatureList, off, listSize, len(rest))
		case uint64(hdrSize)+sigListHeaderSize > uint64(listSize):
			return nil, fmt.Errorf("%w at offset %d: header size %d does not fit in list size %d", ErrSignatureList, off, hdrSize, listSize)
		case sigSize < 16:
			return nil, fmt.Errorf("%w at offset %d: signature size %d is smaller than its owner GUID", ErrSignatureList, off, sigSize)
		}
		body := listSize - sigListHeaderSize - hdrSize
		if body%sigSize != 0 {
			return nil, fmt.Errorf("%w at offset %d: %d bytes of signatures is not a multiple of the signature size %d", ErrSignatureList, off, body, sigSize)
		}
		if body == 0 {
			return nil, fmt.Errorf("%w at offset %d: no signatures", ErrSignatureList, off)
		}
		p := rest[sigListHeaderSize:listSize]
		if hdrSize > 0 {
			l.Header = append([]byte{}, p[:hdrSize]...)
		}
		p = p[hdrSize:]
		for len(p) > 0 {
			var s Signature
			s.Owner = gpt.DecodeGUID(p)
			s.Data = append([]byte{}, p[16:sigSize]...)
			l.Signatures = append(l.Signatures, s)
			p = p[sigSize:]
		}
		lists = append(lists, l)
		off += int(listSize)
	}
	return lists, nil
}
