package debpkg

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardenvm/hardenvm/internal/testenv"
)

func TestWriteDecompressed(t *testing.T) {
	data := sampleData(t)
	for _, comp := range []string{"", ".gz", ".xz", ".zst"} {
		t.Run("data.tar"+comp, func(t *testing.T) {
			in := arBytes(
				member{"debian-binary", []byte("2.0\n")},
				member{"control.tar" + comp, compress(t, controlTar(t), comp)},
				member{"_gpgorigin", []byte("sig")},
				member{"data.tar" + comp, compress(t, data, comp)},
			)
			f, err := os.Create(filepath.Join(t.TempDir(), "out.deb"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := WriteDecompressed(f, bytes.NewReader(in)); err != nil {
				t.Fatalf("WriteDecompressed: %v", err)
			}
			got, err := os.ReadFile(f.Name())
			if err != nil {
				t.Fatal(err)
			}
			want := arBytes(
				member{"debian-binary", []byte("2.0\n")},
				member{"control.tar", controlTar(t)},
				member{"data.tar", data},
			)
			if !bytes.Equal(got, want) {
				t.Fatalf("WriteDecompressed: %d bytes, want %d (data.tar uncompressed, the rest as it was)", len(got), len(want))
			}
			p, err := Read(bytes.NewReader(got))
			if err != nil {
				t.Fatalf("Read(decompressed): %v", err)
			}
			if p.Control["Package"] != "hello" || len(p.Paths) != 11 {
				t.Errorf("Read(decompressed) = package %q, %d paths; want hello, 11", p.Control["Package"], len(p.Paths))
			}
			// dpkg-deb, the peer, lists the same contents.
			out, err := exec.Command(testenv.Tool(t, "dpkg-deb", "dpkg"), "--contents", f.Name()).CombinedOutput()
			if err != nil {
				t.Fatalf("dpkg-deb --contents: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), "./usr/bin/su") {
				t.Errorf("dpkg-deb --contents lacks ./usr/bin/su:\n%s", out)
			}
		})
	}
}

func TestWriteDecompressedErrors(t *testing.T) {
	good := deb(t, sampleData(t), ".gz")
	tests := []struct {
		name, want string
		in         []byte
	}{
		{"not ar", "not an ar archive", []byte("hello")},
		{"no data", "no data.tar member", arBytes(member{"debian-binary", []byte("2.0\n")})},
		{"truncated", "data.tar.gz", good[:len(good)-40]},
		{"lzma", "unsupported compression", arBytes(member{"debian-binary", []byte("2.0\n")}, member{"data.tar.lzma", []byte("x")})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := os.Create(filepath.Join(t.TempDir(), "out.deb"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			err = WriteDecompressed(f, bytes.NewReader(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("WriteDecompressed(%s) = %v, want an error with %q", tt.name, err, tt.want)
			}
		})
	}
}
