package efivars

import (
	"encoding/binary"
	"hash/crc32"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/hardenvm/hardenvm/internal/testenv"
	"github.com/hardenvm/hardenvm/pkg/gpt"
	"github.com/hardenvm/hardenvm/pkg/keys"
)

const (
	ovmfTemplate = "/usr/share/OVMF/OVMF_VARS_4M.fd"
	ovmfMS       = "/usr/share/OVMF/OVMF_VARS_4M.ms.fd"
)

// readOVMF returns one of Debian's OVMF variable files.
func readOVMF(t testing.TB, path string) []byte {
	t.Helper()
	testenv.File(t, path, "ovmf")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Geometry of smallImage: OVMF_VARS.fd's layout scaled down to 1.5 KiB.
const (
	smallBlock   = 0x80
	smallBlocks  = 12
	smallStore   = 0x300 // store region incl. the volume header, as OVMF's 0x40000
	smallFTW     = 0x380 // working block, after a block left free as OVMF's event log
	smallFVAttrs = 0x0004feff
)

// smallImage builds a valid empty flash image: volume header, an
// authenticated variable store, an FTW working block with an empty queue,
// and erased space for the spare area.
func smallImage() []byte {
	le := binary.LittleEndian
	b := make([]byte, smallBlock*smallBlocks)
	for i := range b {
		b[i] = 0xff
	}
	h := b[:0x48]
	clear(h)
	copy(h[0x10:], gpt.AppendGUID(nil, SystemNVDataFV))
	le.PutUint64(h[0x20:], uint64(len(b)))
	le.PutUint32(h[0x28:], fvSignature)
	le.PutUint32(h[0x2c:], smallFVAttrs)
	le.PutUint16(h[0x30:], 0x48)
	h[0x37] = 2 // revision
	le.PutUint32(h[0x38:], smallBlocks)
	le.PutUint32(h[0x3c:], smallBlock)
	var sum uint16
	for i := 0; i < 0x48; i += 2 {
		sum += le.Uint16(h[i:])
	}
	le.PutUint16(h[0x32:], -sum)

	s := b[0x48:0x64]
	clear(s)
	copy(s, gpt.AppendGUID(nil, AuthenticatedVariable))
	le.PutUint32(s[16:], smallStore-0x48)
	s[20], s[21] = storeFormatted, storeHealthy

	w := b[smallFTW : smallFTW+ftwHeaderSize]
	copy(w, gpt.AppendGUID(nil, FTWWorkingBlock))
	le.PutUint64(w[24:], smallBlock-ftwHeaderSize)
	w[20] = 0xff
	le.PutUint32(w[16:], 0xffffffff)
	le.PutUint32(w[16:], crc32.ChecksumIEEE(w))
	w[20] = 0xfe // WorkingBlockValid
	return b
}

var (
	keySetOnce sync.Once
	keySet     *keys.Set
	keySetErr  error
)

// testKeys is one generated key set shared by the tests (RSA generation
// is the slow part).
func testKeys(t testing.TB) *keys.Set {
	t.Helper()
	keySetOnce.Do(func() {
		keySet, keySetErr = keys.Generate(keys.Options{Organization: "efivars test", Now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)})
	})
	if keySetErr != nil {
		t.Fatal(keySetErr)
	}
	return keySet
}

func mustParse(t testing.TB, b []byte) *Image {
	t.Helper()
	im, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return im
}
