package efivars

import (
	"encoding/binary"
	"fmt"
	"github.com/hardenvm/hardenvm/pkg/gpt"
)

// Variables returns the variables the firmware would see, in store order:
// for each name, the added copy, or else one being replaced (a write that
// was cut short between marking the old copy and adding the new).
func (im *Image) Variables() []Variable {
	added := map[string]bool{}
	for _, r := range im.Records {
		if r.State == StateAdded {
			added[r.Variable.Key()] = true
		}
	}
	seen := map[string]bool{}
	var vars []Variable
	for _, r := range im.Records {
		k := r.Variable.Key()
		if !r.Live() || seen[k] || (r.State != StateAdded && added[k]) {
			continue
		}
		seen[k] = true
		vars = append(vars, r.Variable)
	}
	return vars
}

// Lookup returns the current variable name in namespace g.
func (im *Image) Lookup(g gpt.GUID, name string) (Variable, bool) {
	for _, v := range im.Variables() {
		if v.GUID == g && v.Name == name {
			return v, true
		}
	}
	return Variable{}, false
}

// Build returns a copy of the image whose variable store holds exactly
// vars, in that order, packed from the start of the store and every
// record added; the rest of the store is erased. Everything outside the
// store's variable region (volume header, store header, FTW areas) is
// kept byte for byte.
func (im *Image) Build(vars []Variable) ([]byte, error) {
	if im.FTW != nil && im.FTW.Pending {
		return nil, fmt.Errorf("%w (at offset %#x): start from a template, or boot the firmware once to finish it", ErrPendingWrite, im.FTW.Offset)
	}
	out := append([]byte{}, im.raw...)
	start, end := im.firstRecord(), im.storeEnd()
	for i := start; i < end; i++ {
		out[i] = erased
	}
	seen := map[string]bool{}
	off := start
	for i := range vars {
		v := &vars[i]
		if seen[v.Key()] {
			return nil, fmt.Errorf("variable %s given twice", v.Key())
		}
		seen[v.Key()] = true
		if v.Attributes&NonVolatile == 0 {
			return nil, fmt.Errorf("variable %s: not non-volatile (attributes %s): the firmware never reads volatile variables from flash", v.Key(), v.Attributes)
		}
		rec, err := v.record()
		if err != nil {
			return nil, err
		}
		if off+len(rec) > end {
			return nil, fmt.Errorf("%w: %s needs %d bytes at %#x, the store ends at %#x", ErrStoreFull, v.Key(), len(rec), off, end)
		}
		copy(out[off:], rec)
		off = align4(off + len(rec)) // the gap stays erased, as edk2 leaves it
	}
	return out, nil
}

// record encodes v as an AUTHENTICATED_VARIABLE_HEADER, name and data.
func (v *Variable) record() ([]byte, error) {
	name, err := encodeName(v.Name)
	if err != nil {
		return nil, fmt.Errorf("variable %s: %w", v.Key(), err)
	}
	if uint64(len(v.Data)) > 1<<31 {
		return nil, fmt.Errorf("variable %s: %d bytes of data is too large", v.Key(), len(v.Data))
	}
	le := binary.LittleEndian
	b := make([]byte, 0, varHeaderSize+len(name)+len(v.Data))
	b = le.AppendUint16(b, varStartID)
	b = append(b, StateAdded, 0)
	b = le.AppendUint32(b, uint32(v.Attributes))
	b = le.AppendUint64(b, v.MonotonicCount)
	b = v.Time.append(b)
	b = le.AppendUint32(b, v.PubKeyIndex)
	b = le.AppendUint32(b, uint32(len(name)))
	b = le.AppendUint32(b, uint32(len(v.Data)))
	b = gpt.AppendGUID(b, v.GUID)
	if len(b) != varHeaderSize {
		return nil, fmt.Errorf("BUG: variable header size: got %d, want %d", len(b), varHeaderSize)
	}
	b = append(b, name...)
	return append(b, v.Data...), nil
}
