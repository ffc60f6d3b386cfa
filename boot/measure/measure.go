// Package measure defines what hardenvm-init measures into PCR 15 and the
// event log it keeps of it, so that a verifier can replay the log, compare
// it with the TPM, and predict PCR 15 from an image's manifest.
//
// # Events
//
// Each event is a short ASCII string, its data:
//
//	hardenvm:root-hash:<hex>          the dm-verity root hash of the root partition
//	hardenvm:config-root-hash:<hex>   the verity root hash of the config partition (only when one is mounted)
//	hardenvm:enter-userspace          the separator, extended just before stage 2 starts
//
// <hex> is lowercase hexadecimal, no prefix. The init extends them in this
// order with TPM2_PCR_Event(PCR 15, data), so every active PCR bank gets
// the hash of the data in its own algorithm. In the SHA-256 bank:
//
//	digest_i = SHA-256(data_i)
//	PCR15_0  = 32 zero bytes
//	PCR15_i  = SHA-256(PCR15_{i-1} ‖ digest_i)
//
// For example, for root hash R and no config partition,
// PCR15 = E(E(0³², SHA-256("hardenvm:root-hash:"+hex(R))), SHA-256("hardenvm:enter-userspace"))
// with E(p, d) = SHA-256(p ‖ d).
//
// # Log
//
// The log lives at LogPath in the running guest, one JSON object per line
// and per event, in extend order:
//
//	{"pcr":15,"event":"hardenvm:root-hash:…","sha256":"<hex of SHA-256(event)>"}
//
// ParseLog checks every line (known event, digest matching the data), so a
// replay of a parsed log is a replay of exactly the strings that were
// extended. PCR15.md beside this file restates all this with a worked
// example from a real boot.
package measure

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// PCR is the PCR index hardenvm-init extends.
const PCR = 15

// LogPath is where the guest keeps the event log (a tmpfs, written by
// stage 1 before it starts stage 2).
const LogPath = "/run/hardenvm/pcr15.log"

// Event kinds.
const (
	KindRootHash       = "root-hash"
	KindConfigRootHash = "config-root-hash"
	KindEnterUserspace = "enter-userspace"
)

const prefix = "hardenvm:"

// Event is one measurement: the exact bytes given to TPM2_PCR_Event.
type Event struct{ Data string }

// RootHash is the event for the root partition's verity root hash.
func RootHash(h []byte) Event { return Event{prefix + KindRootHash + ":" + hex.EncodeToString(h)} }

// ConfigRootHash is the event for the config partition's root hash.
func ConfigRootHash(h []byte) Event {
	return Event{prefix + KindConfigRootHash + ":" + hex.EncodeToString(h)}
}

// EnterUserspace is the separator after the last stage-1 measurement.
func EnterUserspace() Event { return Event{prefix + KindEnterUserspace} }

// Digest is SHA-256 of the event's data.
func (e Event) Digest() [32]byte { return sha256.Sum256([]byte(e.Data)) }

// Events lists the events stage 1 extends, in order. configRootHash is nil
// when the image has no config partition.
func Events(rootHash, configRootHash []byte) []Event {
	ev := []Event{RootHash(rootHash)}
	if configRootHash != nil {
		ev = append(ev, ConfigRootHash(configRootHash))
	}
	return append(ev, EnterUserspace())
}

// Replay returns the SHA-256 bank value of PCR 15 after events, starting
// from zero.
func Replay(events []Event) [32]byte {
	var pcr [32]byte
	for _, e := range events {
		d := e.Digest()
		pcr = sha256.Sum256(append(pcr[:], d[:]...))
	}
	return pcr
}

// Predict is the PCR 15 value (SHA-256 bank) an image with these root
// hashes reaches when stage 2 starts.
func Predict(rootHash, configRootHash []byte) [32]byte {
	return Replay(Events(rootHash, configRootHash))
}

type record struct {
	PCR    int    `json:"pcr"`
	Event  string `json:"event"`
	SHA256 string `json:"sha256"`
}

// AppendLog writes one log line for e.
func AppendLog(w io.Writer, e Event) error {
	d := e.Digest()
	b, err := json.Marshal(record{PCR: PCR, Event: e.Data, SHA256: hex.EncodeToString(d[:])})
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// maxLog bounds the log a parser accepts; a real one is a few hundred bytes.
const maxLog = 1 << 20

// ParseLog reads a log and checks each line: the PCR index, a known
// event with a well-formed value, and a digest that matches the data.
func ParseLog(r io.Reader) ([]Event, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxLog+1))
	if err != nil {
		return nil, fmt.Errorf("measure: reading log: %w", err)
	}
	if len(b) > maxLog {
		return nil, fmt.Errorf("measure: log larger than %d bytes", maxLog)
	}
	var out []Event
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, maxLog)
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		var rec record
		if err := dec.Decode(&rec); err != nil {
			return nil, fmt.Errorf("measure: log line %d: %w", n, err)
		}
		if dec.More() {
			return nil, fmt.Errorf("measure: log line %d: trailing data", n)
		}
		if rec.PCR != PCR {
			return nil, fmt.Errorf("measure: log line %d: PCR %d, want %d", n, rec.PCR, PCR)
		}
		e := Event{rec.Event}
		if err := e.check(); err != nil {
			return nil, fmt.Errorf("measure: log line %d: %w", n, err)
		}
		d := e.Digest()
		if rec.SHA256 != hex.EncodeToString(d[:]) {
			return nil, fmt.Errorf("measure: log line %d: sha256 %q does not match the event %q", n, rec.SHA256, rec.Event)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// check accepts exactly the events this package makes.
func (e Event) check() error {
	rest, ok := strings.CutPrefix(e.Data, prefix)
	if !ok {
		return fmt.Errorf("event %q: not a hardenvm event", e.Data)
	}
	kind, val, hasVal := strings.Cut(rest, ":")
	switch kind {
	case KindEnterUserspace:
		if hasVal {
			return fmt.Errorf("event %q: the separator has no value", e.Data)
		}
		return nil
	case KindRootHash, KindConfigRootHash:
		b, err := hex.DecodeString(val)
		if err != nil || len(b) == 0 || hex.EncodeToString(b) != val {
			return fmt.Errorf("event %q: want lowercase hex after %s:", e.Data, kind)
		}
		return nil
	}
	return fmt.Errorf("event %q: unknown kind %q", e.Data, kind)
}
