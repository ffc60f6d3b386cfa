// Package tpm sends the two TPM 2.0 commands hardenvm-init needs,
// TPM2_PCR_Event and TPM2_PCR_Read (TPM 2.0 Library, Part 3, §22.3 and
// §22.4), as raw command buffers. It depends on the standard library only,
// so the static init stays small; anything more (quotes, keys) belongs to
// go-tpm on the verifier side.
//
// The transport is any io.ReadWriter that takes one whole command per
// Write and returns one whole response per Read, as the kernel's
// /dev/tpmrm0 and /dev/tpm0 do.
package tpm

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

const (
	stNoSessions = 0x8001
	stSessions   = 0x8002
	ccPCREvent   = 0x0000013C
	ccPCRRead    = 0x0000017E
	rsPW         = 0x40000009 // the password session, empty password
	algSHA256    = 0x000B
	maxEvent     = 1024 // TPM2B_EVENT
	maxResponse  = 4096
)

var be = binary.BigEndian

// Error is a TPM response code other than success.
type Error uint32

func (e Error) Error() string { return fmt.Sprintf("TPM error, response code %#x", uint32(e)) }

func command(tag uint16, cc uint32, body []byte) []byte {
	b := make([]byte, 10, 10+len(body))
	be.PutUint16(b[0:], tag)
	be.PutUint32(b[2:], uint32(10+len(body)))
	be.PutUint32(b[6:], cc)
	return append(b, body...)
}

func transact(rw io.ReadWriter, cmd []byte) ([]byte, error) {
	if _, err := rw.Write(cmd); err != nil {
		return nil, fmt.Errorf("sending TPM command: %w", err)
	}
	rsp := make([]byte, maxResponse)
	n, err := rw.Read(rsp)
	if err != nil {
		return nil, fmt.Errorf("reading TPM response: %w", err)
	}
	rsp = rsp[:n]
	if len(rsp) < 10 || int(be.Uint32(rsp[2:])) != len(rsp) {
		return nil, fmt.Errorf("malformed TPM response of %d bytes", len(rsp))
	}
	if rc := be.Uint32(rsp[6:]); rc != 0 {
		return nil, Error(rc)
	}
	return rsp[10:], nil
}

// PCREvent extends pcr in every active bank with the bank's hash of data
// and returns the SHA-256 digest the TPM computed (checked against ours).
func PCREvent(rw io.ReadWriter, pcr uint32, data []byte) ([]byte, error) {
	if len(data) > maxEvent {
		return nil, fmt.Errorf("TPM2_PCR_Event: %d bytes of event data, at most %d", len(data), maxEvent)
	}
	var body bytes.Buffer
	binary.Write(&body, be, pcr)
	binary.Write(&body, be, uint32(9))         // authorizationSize
	binary.Write(&body, be, uint32(rsPW))      // sessionHandle
	body.Write([]byte{0, 0, 0, 0, 0})          // nonce (empty), attributes, hmac (empty)
	binary.Write(&body, be, uint16(len(data))) // TPM2B_EVENT
	body.Write(data)
	rsp, err := transact(rw, command(stSessions, ccPCREvent, body.Bytes()))
	if err != nil {
		return nil, fmt.Errorf("TPM2_PCR_Event(PCR %d): %w", pcr, err)
	}
	// parameterSize, then TPML_DIGEST_VALUES.
	r := reader{b: rsp}
	params := r.u32()
	p := reader{b: r.bytes(int(params))}
	count := p.u32()
	var got []byte
	for i := uint32(0); i < count && p.err == nil; i++ {
		alg := p.u16()
		size, ok := digestSize[alg]
		if !ok {
			return nil, fmt.Errorf("TPM2_PCR_Event: unknown hash algorithm %#x in the response", alg)
		}
		d := p.bytes(size)
		if alg == algSHA256 {
			got = d
		}
	}
	if r.err != nil || p.err != nil {
		return nil, errors.New("TPM2_PCR_Event: truncated response")
	}
	want := sha256.Sum256(data)
	if got != nil && !bytes.Equal(got, want[:]) {
		return nil, fmt.Errorf("TPM2_PCR_Event: the TPM hashed the event to %x, we did to %x", got, want)
	}
	return got, nil
}

var digestSize = map[uint16]int{0x0004: 20, 0x000B: 32, 0x000C: 48, 0x000D: 64, 0x0012: 32}

// PCRRead reads pcr from the SHA-256 bank. ErrNoBank means the bank is
// not active.
func PCRRead(rw io.ReadWriter, pcr uint32) ([]byte, error) {
	if pcr >= 24 {
		return nil, fmt.Errorf("TPM2_PCR_Read: PCR %d out of range", pcr)
	}
	var sel [3]byte
	sel[pcr/8] = 1 << (pcr % 8)
	var body bytes.Buffer
	binary.Write(&body, be, uint32(1)) // TPML_PCR_SELECTION count
	binary.Write(&body, be, uint16(algSHA256))
	body.WriteByte(3)
	body.Write(sel[:])
	rsp, err := transact(rw, command(stNoSessions, ccPCRRead, body.Bytes()))
	if err != nil {
		return nil, fmt.Errorf("TPM2_PCR_Read(PCR %d): %w", pcr, err)
	}
	r := reader{b: rsp}
	r.u32() // pcrUpdateCounter
	for n := r.u32(); n > 0 && r.err == nil; n-- {
		r.u16()
		r.bytes(int(r.u8()))
	}
	n := r.u32()
	if r.err != nil {
		return nil, errors.New("TPM2_PCR_Read: truncated response")
	}
	if n == 0 {
		return nil, ErrNoBank
	}
	d := r.bytes(int(r.u16()))
	if r.err != nil || len(d) != 32 {
		return nil, errors.New("TPM2_PCR_Read: malformed digest")
	}
	return d, nil
}

// ErrNoBank is returned by PCRRead when the TPM has no active SHA-256 bank.
var ErrNoBank = errors.New("no active SHA-256 PCR bank")

type reader struct {
	b   []byte
	err error
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil || n < 0 || n > len(r.b) {
		r.err = io.ErrUnexpectedEOF
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) u8() uint8 {
	if b := r.bytes(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *reader) u16() uint16 {
	if b := r.bytes(2); b != nil {
		return be.Uint16(b)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if b := r.bytes(4); b != nil {
		return be.Uint32(b)
	}
	return 0
}
