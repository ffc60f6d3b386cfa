package veritysetup

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardenvm/hardenvm/pkg/verity"
)

func TestParseSalt(t *testing.T) {
	tests := []struct {
		in      string
		want    string // hex; "" with ok for no salt
		tooLong bool
		ok      bool
	}{
		{in: "00ff", want: "\x00\xff", ok: true},
		{in: "-", want: "", ok: true},
		{in: "", want: "", ok: true},
		{in: "xyz"},
		{in: "abc"},
		{in: strings.Repeat("ab", verity.MaxSaltSize), want: strings.Repeat("\xab", verity.MaxSaltSize), ok: true},
		{in: strings.Repeat("ab", verity.MaxSaltSize+1), tooLong: true},
	}
	for _, tt := range tests {
		got, err := ParseSalt(tt.in)
		if (err == nil) != tt.ok || errors.Is(err, verity.ErrSaltTooLong) != tt.tooLong || tt.ok && (got == nil || string(got) != tt.want) {
			t.Errorf("ParseSalt(%q) = %x, %v; want %x ok=%v tooLong=%v", tt.in, got, err, tt.want, tt.ok, tt.tooLong)
		}
	}
}

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	data, hash := filepath.Join(dir, "data.img"), filepath.Join(dir, "data.verity")
	if err := os.WriteFile(data, testData(40*4096), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	res, err := Format(ctx, data, hash, verity.Params{})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(hash); err != nil || st.Size() != res.HashSize {
		t.Fatalf("hash file: %v, want %d bytes", err, res.HashSize)
	}
	if _, err := Verify(ctx, data, hash, res.RootHash); err != nil {
		t.Errorf("VerifyFiles: %v", err)
	}
	dumped, err := Dump(hash)
	want := InfoOf(res)
	want.RootHash = ""
	if err != nil || dumped != want {
		t.Errorf("DumpFile = %+v, %v; want %+v", dumped, err, want)
	}

	short := filepath.Join(dir, "short.verity")
	b, _ := os.ReadFile(hash)
	os.WriteFile(short, b[:len(b)-1], 0o644)
	odd := filepath.Join(dir, "odd.img")
	os.WriteFile(odd, make([]byte, 5000), 0o644)
	tests := []struct {
		name string
		run  func() error
		want string
	}{
		{"dump truncated", func() error { _, err := Dump(short); return err }, "short.verity: hash file truncated: "},
		{"verify truncated", func() error { _, err := Verify(ctx, data, short, res.RootHash); return err }, "data.img with " + short + ": "},
		{"verify wrong root", func() error { _, err := Verify(ctx, data, hash, make([]byte, 32)); return err }, "root hash"},
		{"format unaligned", func() error { _, err := Format(ctx, odd, filepath.Join(dir, "x"), verity.Params{}); return err }, "odd.img: verity: data size is not a multiple"},
		{"format missing data", func() error {
			_, err := Format(ctx, filepath.Join(dir, "nope"), filepath.Join(dir, "x"), verity.Params{})
			return err
		}, "no such file"},
		{"dump missing", func() error { _, err := Dump(filepath.Join(dir, "nope")); return err }, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.run(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want one with %q", err, tt.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "x")); !os.IsNotExist(err) {
		t.Errorf("a failed Format left its output behind: %v", err)
	}
}

func TestInfoWriteText(t *testing.T) {
	tests := []struct {
		name string
		in   Info
		want []string
	}{
		{"root hash and salt", Info{RootHash: "ab12", Salt: "00ff", UUID: "u", Algorithm: "sha256", HashType: 1},
			[]string{"Salt:             00ff\n", "Root hash:        ab12\n", "Hash type:        1\n"}},
		{"no salt, no root hash", Info{UUID: "u"}, []string{"Salt:             -\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := tt.in.WriteText(&b); err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("WriteText lacks %q:\n%s", w, b.String())
				}
			}
			if tt.in.RootHash == "" && strings.Contains(b.String(), "Root hash") {
				t.Errorf("WriteText prints a root hash it does not have:\n%s", b.String())
			}
		})
	}
}

// testData is n bytes that differ from block to block.
func testData(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/4096)
	}
	return b
}
