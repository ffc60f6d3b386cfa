package cpio

import (
	"bytes"
	"errors"
	"testing"
)

func TestFind(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, e := range []Entry{
		{Name: "etc", Mode: TypeDir | 0o755},
		{Name: "etc/a", Mode: TypeFile | 0o644, Data: []byte("odd")},
		{Name: "etc/hardenvm/admin.crt", Mode: TypeFile | 0o644, Data: []byte("-----BEGIN CERTIFICATE-----")},
		{Name: "link", Mode: TypeSymlink | 0o777, Data: []byte("etc/a")},
	} {
		if err := w.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	tests := []struct {
		name string
		max  int64
		want string
		err  error
	}{
		{"etc/hardenvm/admin.crt", 1 << 10, "-----BEGIN CERTIFICATE-----", nil},
		{"etc/a", 10, "odd", nil},
		{"link", 10, "", ErrNotFound}, // not a regular file
		{"missing", 10, "", ErrNotFound},
	}
	for _, tt := range tests {
		got, err := Find(bytes.NewReader(buf.Bytes()), tt.name, tt.max)
		if string(got) != tt.want || !errors.Is(err, tt.err) {
			t.Errorf("Find(%s) = %q, %v; want %q, %v", tt.name, got, err, tt.want, tt.err)
		}
	}
	if _, err := Find(bytes.NewReader(buf.Bytes()), "etc/hardenvm/admin.crt", 5); err == nil {
		t.Error("Find over max succeeded")
	}
	if _, err := Find(bytes.NewReader(buf.Bytes()[:200]), "missing", 5); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("Find in a truncated archive = %v, want a read error", err)
	}
}

func FuzzFind(f *testing.F) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	w.Add(Entry{Name: "etc/x", Mode: TypeFile | 0o644, Data: []byte("data")})
	w.Close()
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		Find(bytes.NewReader(b), "etc/x", 1<<20) // must not panic or hang
	})
}
