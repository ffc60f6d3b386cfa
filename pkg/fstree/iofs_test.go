package fstree

import (
	"bytes"
	"io"
	"testing"
	"testing/fstest"
	"time"
)

func TestFS(t *testing.T) {
	tr := New()
	h := Header{Mode: 0o644, Mtime: time.Unix(1, 0)}
	if _, err := tr.MkdirAll("lib/modules/6.1/kernel/fs", Header{Mode: 0o755}); err != nil {
		t.Fatal(err)
	}
	for p, data := range map[string]string{
		"lib/modules/6.1/kernel/fs/a.ko": "module a",
		"lib/modules/6.1/modules.order":  "kernel/fs/a.ko\n",
	} {
		if err := tr.WriteFile(p, h, Bytes(data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.Symlink("kernel/fs/a.ko", "lib/modules/6.1/link.ko", Header{Mode: 0o777}); err != nil {
		t.Fatal(err)
	}
	// fstest.TestFS checks the fs.FS contract (Open, ReadDir, Stat, reads).
	if err := fstest.TestFS(tr.FS("lib/modules/6.1"), "kernel/fs/a.ko", "modules.order", "link.ko"); err != nil {
		t.Fatal(err)
	}
}

// countingContent counts the reads of its reader.
type countingContent struct {
	data  []byte
	reads *int
}

func (c countingContent) Size() int64 { return int64(len(c.data)) }

func (c countingContent) Open() (io.ReadCloser, error) {
	return io.NopCloser(&countingReader{bytes.NewReader(c.data), c.reads}), nil
}

type countingReader struct {
	r     io.Reader
	reads *int
}

func (r *countingReader) Read(b []byte) (int, error) { *r.reads++; return r.r.Read(b) }

// TestFSReadByte: a file read a byte at a time (as the xz decompressor
// reads the initramfs's .ko.xz modules: ReadByte, or one-byte Reads)
// reads its contents in large pieces, and mixing Read and ReadByte gives
// the bytes in order.
func TestFSReadByte(t *testing.T) {
	data := make([]byte, 200000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	var reads int
	tr := New()
	if err := tr.WriteFile("m.ko.xz", Header{Mode: 0o644}, countingContent{data, &reads}); err != nil {
		t.Fatal(err)
	}
	f, err := tr.FS("/").Open("m.ko.xz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	br, ok := f.(io.ByteReader)
	if !ok {
		t.Fatal("a file of the tree's fs.FS is not an io.ByteReader")
	}
	var got []byte
	head := make([]byte, 10)
	if _, err := io.ReadFull(f, head); err != nil {
		t.Fatal(err)
	}
	got = append(got, head...)
	for i := 0; ; i++ {
		if i%2 == 1 { // a one-byte Read, as behind a reader that hides ReadByte
			n, err := f.Read(head[:1])
			got = append(got, head[:n]...)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			continue
		}
		b, err := br.ReadByte()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, b)
		if len(got) == 100000 { // a Read between the bytes
			n, _ := f.Read(head)
			got = append(got, head[:n]...)
		}
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes, not the file's %d", len(got), len(data))
	}
	if reads > 20 {
		t.Errorf("%d reads of the contents for %d bytes read a byte at a time, want a few large ones", reads, len(data))
	}
}
