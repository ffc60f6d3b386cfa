package sign

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"strconv"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	"github.com/sigstore/sigstore/pkg/signature"
	"google.golang.org/protobuf/encoding/protojson"
)

// InTotoPayloadType is the DSSE payload type of in-toto statements.
const InTotoPayloadType = "application/vnd.in-toto+json"

// PAE is DSSE's pre-authentication encoding of a payload and its type:
// what the envelope's signature is over (DSSE v1.0 protocol).
func PAE(payloadType string, payload []byte) []byte {
	var b bytes.Buffer
	b.WriteString("DSSEv1 " + strconv.Itoa(len(payloadType)) + " " + payloadType + " " + strconv.Itoa(len(payload)) + " ")
	b.Write(payload)
	return b.Bytes()
}

// SignDSSE returns a sigstore bundle (v0.3) holding a DSSE envelope of
// payload, signed by key over PAE(payloadType, payload): the shape `cosign
// verify-blob-attestation --key ... --bundle ...` checks for attestations
// such as build provenance.
func SignDSSE(payloadType string, payload []byte, key crypto.Signer) ([]byte, error) {
	signer, err := signature.LoadSigner(key, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("sign: loading the signing key: %w", err)
	}
	sig, err := signer.SignMessage(bytes.NewReader(PAE(payloadType, payload)))
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	return marshalBundle(key.Public(), &protobundle.Bundle_DsseEnvelope{DsseEnvelope: &protodsse.Envelope{
		Payload: payload, PayloadType: payloadType,
		Signatures: []*protodsse.Signature{{Sig: sig}},
	}})
}

// VerifyDSSE checks a DSSE bundle against pub and returns the payload type
// and the payload it signs: callers parse only verified bytes.
func VerifyDSSE(bundle []byte, pub crypto.PublicKey) (string, []byte, error) {
	var b protobundle.Bundle
	if err := protojson.Unmarshal(bundle, &b); err != nil {
		return "", nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := checkEnvelope(&b, pub); err != nil {
		return "", nil, err
	}
	env := b.GetDsseEnvelope()
	if env == nil {
		return "", nil, fmt.Errorf("%w: no DSSE envelope", ErrMalformed)
	}
	if len(env.GetSignatures()) != 1 {
		return "", nil, fmt.Errorf("%w: %d DSSE signatures, want 1", ErrMalformed, len(env.GetSignatures()))
	}
	v, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		return "", nil, fmt.Errorf("sign: loading the public key: %w", err)
	}
	pae := PAE(env.GetPayloadType(), env.GetPayload())
	if err := v.VerifySignature(bytes.NewReader(env.GetSignatures()[0].GetSig()), bytes.NewReader(pae)); err != nil {
		return "", nil, fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	return env.GetPayloadType(), env.GetPayload(), nil
}

var errNotPublicKey = errors.New("verification material is not a public key (certificates are not supported)")
