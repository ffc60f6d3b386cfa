package fstree

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
)

// TestSpill: small contents stay in memory, large ones go to the file and
// read back whole, also when stored from several goroutines at once; a
// reader shorter than declared is an error.
func TestSpill(t *testing.T) {
	s, err := NewSpill(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tests := []struct {
		name     string
		n        int
		inMemory bool
	}{
		{"empty", 0, true},
		{"small", SpillMin - 1, true},
		{"at the threshold", SpillMin, false},
		{"large", 3<<20 + 17, false},
	}
	var wg sync.WaitGroup
	for _, tt := range tests {
		for k := range 4 {
			wg.Go(func() {
				want := bytes.Repeat([]byte(fmt.Sprintf("%s-%d;", tt.name, k)), tt.n/8+1)[:tt.n]
				c, err := s.Store(bytes.NewReader(want), int64(tt.n))
				if err != nil {
					t.Errorf("%s: Store: %v", tt.name, err)
					return
				}
				if _, ok := c.(Bytes); ok != tt.inMemory {
					t.Errorf("%s: in memory = %v, want %v", tt.name, ok, tt.inMemory)
				}
				r, err := c.Open()
				if err != nil {
					t.Errorf("%s: Open: %v", tt.name, err)
					return
				}
				got, err := io.ReadAll(r)
				r.Close()
				if err != nil || c.Size() != int64(tt.n) || !bytes.Equal(got, want) {
					t.Errorf("%s: read back %d bytes (Size %d, err %v), want the %d stored", tt.name, len(got), c.Size(), err, tt.n)
				}
			})
		}
	}
	wg.Wait()
	for _, n := range []int64{10, SpillMin * 2} {
		if _, err := s.Store(strings.NewReader("short"), n); err == nil {
			t.Errorf("Store of a 5-byte reader as %d bytes succeeded", n)
		}
	}
}
