package agent

import (
	"errors"
	"fmt"
	"os"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
	"golang.org/x/sys/unix"
)

// devTPM is a go-tpm transport over the kernel's TPM device, opened
// blocking and outside Go's poller (in non-blocking mode a read before the
// response is ready returns nothing).
type devTPM struct{ f *os.File }

// OpenDevice opens the kernel's TPM (the resource manager if present).
func OpenDevice() (transport.TPM, error) {
	var last error
	for _, p := range []string{"/dev/tpmrm0", "/dev/tpm0"} {
		fd, err := unix.Open(p, unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err == nil {
			return &devTPM{os.NewFile(uintptr(fd), p)}, nil
		}
		last = err
	}
	return nil, fmt.Errorf("no TPM: %w", last)
}

func (d *devTPM) Send(cmd []byte) ([]byte, error) {
	if _, err := d.f.Write(cmd); err != nil {
		return nil, err
	}
	buf := make([]byte, 8192)
	n, err := d.f.Read(buf)
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}

// Keys are the EK and the AK, loaded for the agent's lifetime.
type Keys struct {
	tpm      transport.TPM
	ek, ak   tpm2.NamedHandle
	ekPublic []byte
	akPublic []byte
	ekCert   []byte
}

// akTemplate is a restricted ECDSA P-256 signing key: it signs only
// structures the TPM made itself (quotes), never outside data that
// could look like one.
var akTemplate = tpm2.TPMTPublic{
	Type:    tpm2.TPMAlgECC,
	NameAlg: tpm2.TPMAlgSHA256,
	ObjectAttributes: tpm2.TPMAObject{
		FixedTPM: true, FixedParent: true, SensitiveDataOrigin: true, UserWithAuth: true,
		Restricted: true, SignEncrypt: true, NoDA: true,
	},
	Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgECC, &tpm2.TPMSECCParms{
		Scheme: tpm2.TPMTECCScheme{
			Scheme:  tpm2.TPMAlgECDSA,
			Details: tpm2.NewTPMUAsymScheme(tpm2.TPMAlgECDSA, &tpm2.TPMSSigSchemeECDSA{HashAlg: tpm2.TPMAlgSHA256}),
		},
		CurveID: tpm2.TPMECCNistP256,
	}),
	Unique: tpm2.NewTPMUPublicID(tpm2.TPMAlgECC, &tpm2.TPMSECCPoint{
		X: tpm2.TPM2BECCParameter{Buffer: make([]byte, 32)},
		Y: tpm2.TPM2BECCParameter{Buffer: make([]byte, 32)},
	}),
}

// ekCertIndex is where swtpm_setup (and TPM vendors) store the RSA 2048
// EK certificate (TCG EK Credential Profile).
const ekCertIndex = 0x01c00002

// LoadKeys creates the EK (TCG RSA 2048 template, the key swtpm_setup
// certifies) and the AK, and reads the EK certificate.
func LoadKeys(t transport.TPM, log func(string, ...any)) (*Keys, error) {
	k := &Keys{tpm: t}
	ek, err := tpm2.CreatePrimary{PrimaryHandle: tpm2.TPMRHEndorsement, InPublic: tpm2.New2B(tpm2.RSAEKTemplate)}.Execute(t)
	if err != nil {
		return nil, fmt.Errorf("creating the EK: %w", err)
	}
	k.ek = tpm2.NamedHandle{Handle: ek.ObjectHandle, Name: ek.Name}
	k.ekPublic = ek.OutPublic.Bytes()
	ak, err := tpm2.CreatePrimary{PrimaryHandle: tpm2.TPMRHOwner, InPublic: tpm2.New2B(akTemplate)}.Execute(t)
	if err != nil {
		return nil, fmt.Errorf("creating the AK: %w", err)
	}
	k.ak = tpm2.NamedHandle{Handle: ak.ObjectHandle, Name: ak.Name}
	k.akPublic = ak.OutPublic.Bytes()
	k.ekCert, err = readNV(t, ekCertIndex)
	if err != nil {
		log("no EK certificate at NV %#x: %v", ekCertIndex, err)
	}
	return k, nil
}

func readNV(t transport.TPM, index tpm2.TPMHandle) ([]byte, error) {
	pub, err := tpm2.NVReadPublic{NVIndex: index}.Execute(t)
	if err != nil {
		return nil, err
	}
	p, err := pub.NVPublic.Contents()
	if err != nil {
		return nil, err
	}
	var out []byte
	for off := 0; off < int(p.DataSize); {
		n := min(int(p.DataSize)-off, 512)
		r, err := tpm2.NVRead{
			AuthHandle: tpm2.AuthHandle{Handle: tpm2.TPMRHOwner, Auth: tpm2.PasswordAuth(nil)},
			NVIndex:    tpm2.NamedHandle{Handle: index, Name: pub.NVName},
			Size:       uint16(n), Offset: uint16(off),
		}.Execute(t)
		if err != nil {
			return nil, err
		}
		out = append(out, r.Data.Buffer...)
		off += n
	}
	return out, nil
}

// activate recovers the verifier's secret: only the TPM holding the EK can
// decrypt it, and it does so only for the AK named in the challenge.
func (k *Keys) activate(blob, secret []byte) ([]byte, error) {
	r, err := tpm2.ActivateCredential{
		ActivateHandle: tpm2.AuthHandle{Handle: k.ak.Handle, Name: k.ak.Name, Auth: tpm2.PasswordAuth(nil)},
		KeyHandle: tpm2.AuthHandle{Handle: k.ek.Handle, Name: k.ek.Name,
			Auth: tpm2.Policy(tpm2.TPMAlgSHA256, 16, func(t transport.TPM, h tpm2.TPMISHPolicy, nonce tpm2.TPM2BNonce) error {
				_, err := tpm2.PolicySecret{AuthHandle: tpm2.TPMRHEndorsement, PolicySession: h, NonceTPM: nonce}.Execute(t)
				return err
			})},
		CredentialBlob: tpm2.TPM2BIDObject{Buffer: blob},
		Secret:         tpm2.TPM2BEncryptedSecret{Buffer: secret},
	}.Execute(k.tpm)
	if err != nil {
		return nil, fmt.Errorf("activating the credential: %w", err)
	}
	return r.CertInfo.Buffer, nil
}

// pcrs016 selects PCRs 0–15 in the SHA-256 bank.
func pcrs016() tpm2.TPMLPCRSelection {
	return tpm2.TPMLPCRSelection{PCRSelections: []tpm2.TPMSPCRSelection{{
		Hash: tpm2.TPMAlgSHA256, PCRSelect: tpm2.PCClientCompatible.PCRs(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
	}}}
}

// quote signs PCRs 0–15 with the AK over the nonce, and reads them.
func (k *Keys) quote(nonce []byte) (quoted, sig []byte, pcrs [][]byte, err error) {
	q, err := tpm2.Quote{
		SignHandle:     tpm2.AuthHandle{Handle: k.ak.Handle, Name: k.ak.Name, Auth: tpm2.PasswordAuth(nil)},
		QualifyingData: tpm2.TPM2BData{Buffer: nonce},
		InScheme: tpm2.TPMTSigScheme{Scheme: tpm2.TPMAlgECDSA,
			Details: tpm2.NewTPMUSigScheme(tpm2.TPMAlgECDSA, &tpm2.TPMSSchemeHash{HashAlg: tpm2.TPMAlgSHA256})},
		PCRSelect: pcrs016(),
	}.Execute(k.tpm)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("quote: %w", err)
	}
	// PCR_Read returns at most 8 digests a call: ask again for the rest.
	want := 16
	for i := 0; len(pcrs) < want; i++ {
		if i > 4 {
			return nil, nil, nil, errors.New("PCR_Read: the TPM keeps returning no PCRs")
		}
		var idx []uint
		for p := len(pcrs); p < want; p++ {
			idx = append(idx, uint(p))
		}
		r, err := tpm2.PCRRead{PCRSelectionIn: tpm2.TPMLPCRSelection{PCRSelections: []tpm2.TPMSPCRSelection{{
			Hash: tpm2.TPMAlgSHA256, PCRSelect: tpm2.PCClientCompatible.PCRs(idx...)}}}}.Execute(k.tpm)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("PCR_Read: %w", err)
		}
		for _, d := range r.PCRValues.Digests {
			pcrs = append(pcrs, d.Buffer)
		}
	}
	return q.Quoted.Bytes(), tpm2.Marshal(q.Signature), pcrs, nil
}
