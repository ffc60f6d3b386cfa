package gpt

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hardenvm/hardenvm/internal/testenv"
)

// mem is an in-memory disk.
type mem []byte

func (m mem) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(m)) {
		return 0, errors.New("write past end")
	}
	return copy(m[off:], p), nil
}

func (m mem) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= int64(len(m)) {
		return 0, errors.New("read past end")
	}
	n := copy(p, m[off:])
	if n < len(p) {
		return n, errors.New("short read")
	}
	return n, nil
}

const mib = 2048 // sectors

func sampleTable() *Table {
	rootHash := sha256.Sum256([]byte("root"))
	return &Table{
		Sectors: 16 * mib,
		Partitions: []Partition{
			{Type: TypeESP, FirstLBA: 1 * mib, LastLBA: 5*mib - 1, Name: "esp"},
			{Type: TypeRootX86_64, GUID: GUID(rootHash[:16]), FirstLBA: 5 * mib, LastLBA: 9*mib - 1,
				Attributes: AttrReadOnly, Name: "root-x86-64"},
			{Type: TypeRootVerityX86_64, GUID: GUID(rootHash[16:]), FirstLBA: 9 * mib, LastLBA: 10*mib - 1,
				Attributes: AttrReadOnly, Name: "root-x86-64-verity"},
			{Type: TypeLinuxData, FirstLBA: 10 * mib, LastLBA: 11*mib - 1,
				Attributes: AttrReadOnly, Name: "hardenvm-config ✓"},
		},
	}
}

func writeSample(t *testing.T) (mem, *Table) {
	t.Helper()
	tb := sampleTable()
	d := make(mem, tb.Sectors*SectorSize)
	if err := tb.Write(d); err != nil {
		t.Fatal(err)
	}
	return d, tb
}

func TestGUIDText(t *testing.T) {
	const s = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"
	g := MustParseGUID(strings.ToUpper(s))
	if g.String() != s {
		t.Errorf("String() = %s, want %s", g, s)
	}
	var b [16]byte
	g.encode(b[:])
	// The ESP type GUID's on-disk bytes, as in the UEFI specification.
	want := []byte{0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e, 0xc9, 0x3b}
	if !bytes.Equal(b[:], want) {
		t.Errorf("encode = % x, want % x", b, want)
	}
	if decodeGUID(b[:]) != g {
		t.Error("decode(encode(g)) != g")
	}
	for _, bad := range []string{"", "xyz", "c12a7328f81f11d2ba4b00a0c93ec93b", "g12a7328-f81f-11d2-ba4b-00a0c93ec93b",
		"8be4df61-93ca-11d2-aa0d-00e098032b8", "8be4df6193ca11d2aa0d00e098032b8c"} {
		if _, err := ParseGUID(bad); err == nil {
			t.Errorf("ParseGUID(%q) succeeded", bad)
		}
	}
}

// TestGUIDMixedEndian: DecodeGUID and AppendGUID use the byte order of
// every EFI_GUID (EFI variables, signature owners), not only GPT's.
func TestGUIDMixedEndian(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []byte
	}{
		{"EFI_GLOBAL_VARIABLE", "8be4df61-93ca-11d2-aa0d-00e098032b8c",
			[]byte{0x61, 0xdf, 0xe4, 0x8b, 0xca, 0x93, 0xd2, 0x11, 0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03, 0x2b, 0x8c}},
		{"ESP type", "c12a7328-f81f-11d2-ba4b-00a0c93ec93b",
			[]byte{0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e, 0xc9, 0x3b}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := MustParseGUID(tt.text)
			if got := AppendGUID([]byte{9}, g); !bytes.Equal(got, append([]byte{9}, tt.want...)) {
				t.Errorf("AppendGUID = % x, want 09 % x", got, tt.want)
			}
			if got := DecodeGUID(tt.want); got != g {
				t.Errorf("DecodeGUID(% x) = %s, want %s", tt.want, got, g)
			}
		})
	}
}

func TestNewGUID(t *testing.T) {
	a, b := NewGUID([]byte("ab"), []byte("c")), NewGUID([]byte("a"), []byte("bc"))
	if a == b {
		t.Error("length prefixes do not separate parts")
	}
	if a != NewGUID([]byte("ab"), []byte("c")) {
		t.Error("NewGUID is not deterministic")
	}
	if s := a.String(); s[14] != '4' || !strings.ContainsRune("89ab", rune(s[19])) {
		t.Errorf("%s is not a version-4 variant-1 UUID", s)
	}
}

func TestRoundTrip(t *testing.T) {
	d, tb := writeSample(t)
	got, err := Read(d, int64(len(d)))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tb, got); diff != "" {
		t.Errorf("Read(Write(t)) diff (-want +got):\n%s", diff)
	}
	if tb.DiskGUID.IsZero() || tb.Partitions[0].GUID.IsZero() {
		t.Error("zero GUIDs were not derived")
	}
	if r := got.Find(TypeRootVerityX86_64); len(r) != 1 || r[0].Number != 3 {
		t.Errorf("Find(root-verity) = %+v", r)
	}
}

func TestDeterministicAndSensitive(t *testing.T) {
	d1, t1 := writeSample(t)
	d2, _ := writeSample(t)
	if !bytes.Equal(d1, d2) {
		t.Fatal("same table, different bytes")
	}
	tb := sampleTable()
	tb.Partitions[3].Name = "other"
	d3 := make(mem, tb.Sectors*SectorSize)
	if err := tb.Write(d3); err != nil {
		t.Fatal(err)
	}
	if tb.DiskGUID == t1.DiskGUID {
		t.Error("disk GUID did not change with a partition name")
	}
}

func TestBackupUsedWhenPrimaryDamaged(t *testing.T) {
	for _, lba := range []int{1, 2} { // header, then entry array
		t.Run(fmt.Sprint("LBA", lba), func(t *testing.T) {
			d, tb := writeSample(t)
			d[lba*SectorSize+20] ^= 0x40
			got, err := Read(d, int64(len(d)))
			if err != nil {
				t.Fatal(err)
			}
			if got.DiskGUID != tb.DiskGUID || len(got.Partitions) != 4 {
				t.Errorf("backup table = %+v", got)
			}
			d[len(d)-SectorSize+20] ^= 0x40 // now the backup header too
			if _, err := Read(d, int64(len(d))); !errors.Is(err, ErrNoTable) {
				t.Errorf("both damaged: err = %v, want ErrNoTable", err)
			}
		})
	}
}

func TestWriteErrors(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Table)
		want string
	}{
		{"overlap", func(tb *Table) { tb.Partitions[1].FirstLBA = 5*mib - 1 }, "overlap"},
		{"before first usable", func(tb *Table) { tb.Partitions[0].FirstLBA = 33 }, "outside the usable range"},
		{"into backup", func(tb *Table) { tb.Partitions[3].LastLBA = tb.Sectors - 33 }, "outside the usable range"},
		{"inverted", func(tb *Table) { tb.Partitions[3].LastLBA = tb.Partitions[3].FirstLBA - 1 }, "outside"},
		{"zero type", func(tb *Table) { tb.Partitions[0].Type = GUID{} }, "zero type"},
		{"same GUID", func(tb *Table) { tb.Partitions[0].GUID = tb.Partitions[1].GUID }, "same GUID"},
		{"long name", func(tb *Table) { tb.Partitions[0].Name = strings.Repeat("x", 37) }, "longer than 36"},
		{"tiny disk", func(tb *Table) { tb.Sectors = 60; tb.Partitions = nil }, "too small"},
		{"4K sectors", func(tb *Table) { tb.SectorSize = 4096 }, "not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := sampleTable()
			tt.edit(tb)
			err := tb.Write(make(mem, 16*mib*SectorSize))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Write error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestSgdisk has sgdisk check the table and read back every field.
func TestSgdisk(t *testing.T) {
	sgdisk := testenv.Tool(t, "sgdisk", "gdisk")
	d, tb := writeSample(t)
	p := filepath.Join(t.TempDir(), "disk.raw")
	if err := os.WriteFile(p, d, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadFile(p); err != nil || got.DiskGUID != tb.DiskGUID {
		t.Errorf("ReadFile = %v, %v; want disk GUID %s", got, err, tb.DiskGUID)
	}
	out, err := exec.Command(sgdisk, "-v", p).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "No problems found") {
		t.Fatalf("sgdisk -v: %v\n%s", err, out)
	}
	out, err = exec.Command(sgdisk, "-p", p).CombinedOutput()
	if err != nil {
		t.Fatalf("sgdisk -p: %v\n%s", err, out)
	}
	if want := "Disk identifier (GUID): " + strings.ToUpper(tb.DiskGUID.String()); !strings.Contains(string(out), want) {
		t.Errorf("sgdisk -p does not show %q:\n%s", want, out)
	}
	for _, pt := range tb.Partitions {
		out, err := exec.Command(sgdisk, "-i", fmt.Sprint(pt.Number), p).CombinedOutput()
		if err != nil {
			t.Fatalf("sgdisk -i %d: %v\n%s", pt.Number, err, out)
		}
		got := parseSgdiskInfo(string(out))
		want := map[string]string{
			"Partition GUID code":   strings.ToUpper(pt.Type.String()),
			"Partition unique GUID": strings.ToUpper(pt.GUID.String()),
			"First sector":          fmt.Sprint(pt.FirstLBA),
			"Last sector":           fmt.Sprint(pt.LastLBA),
			"Attribute flags":       fmt.Sprintf("%016x", pt.Attributes),
			"Partition name":        "'" + pt.Name + "'",
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("sgdisk -i %d diff (-want +got):\n%s\n%s", pt.Number, diff, out)
		}
	}
}

var sgdiskLine = regexp.MustCompile(`(?m)^([A-Za-z ]+): (\S+(?: .*)?)$`)

// parseSgdiskInfo picks the fields of `sgdisk -i N` that TestSgdisk checks.
func parseSgdiskInfo(s string) map[string]string {
	keep := map[string]bool{"Partition GUID code": true, "Partition unique GUID": true, "First sector": true,
		"Last sector": true, "Attribute flags": true, "Partition name": true}
	m := map[string]string{}
	for _, l := range sgdiskLine.FindAllStringSubmatch(s, -1) {
		if !keep[l[1]] {
			continue
		}
		v := l[2]
		if l[1] != "Partition name" {
			v = strings.Fields(v)[0] // drop "(Linux x86-64 root (/))", "(at 1 MiB)"
		}
		m[l[1]] = v
	}
	return m
}

func TestReadCompact(t *testing.T) {
	d := compactDisk()
	tb, err := Read(d, int64(len(d)))
	if err != nil {
		t.Fatal(err)
	}
	if len(tb.Partitions) != 2 || tb.Partitions[1].Name != "root" {
		t.Errorf("compact table = %+v", tb)
	}
}

func TestVerityGUIDs(t *testing.T) {
	h, _ := hex.DecodeString("00112233445566778899aabbccddeeff0f1e2d3c4b5a69788796a5b4c3d2e1f0")
	data, hash, err := VerityGUIDs(h)
	if err != nil {
		t.Fatal(err)
	}
	if data.String() != "00112233-4455-6677-8899-aabbccddeeff" || hash.String() != "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0" {
		t.Errorf("VerityGUIDs = %s, %s", data, hash)
	}
	if _, _, err := VerityGUIDs(h[:31]); err == nil {
		t.Error("a 31-byte root hash was accepted")
	}
}

// TestStdlibOnly keeps the reader fit for the static guest init: no
// dependencies outside the standard library.
func TestStdlibOnly(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	if got := strings.Fields(string(out)); len(got) != 1 || got[0] != "github.com/hardenvm/hardenvm/pkg/gpt" {
		t.Errorf("pkg/gpt depends on %v; keep it to the standard library", got)
	}
}

func TestReadFileErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadFile(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file accepted")
	}
	p := filepath.Join(dir, "zeros")
	os.WriteFile(p, make([]byte, 1<<20), 0o644)
	_, err := ReadFile(p)
	if !errors.Is(err, ErrNoTable) || !strings.Contains(err.Error(), p) || strings.Contains(err.Error(), "\n") {
		t.Errorf("ReadFile(zeros) = %v, want ErrNoTable naming the file, on one line", err)
	}
}
