package runtime

import (
	"errors"
	"testing"
)

func TestIDPoolAllocate(t *testing.T) {
	alive := map[string]bool{"a": true, "b": true, "c": true}
	exists := func(id string) bool { return alive[id] }
	p, err := ParseIDPool(nil)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		id      string
		want    int
		wantErr error
	}{
		{"a", 0, nil},
		{"b", 1, nil},
		{"a", 0, nil}, // a restarted container keeps its range
		{"c", 2, nil},
		{"d", 0, ErrIDsExhausted}, // three ranges, all held
	}
	for _, s := range steps {
		got, err := p.Allocate(s.id, 3, exists)
		if !errors.Is(err, s.wantErr) || (err == nil && got != s.want) {
			t.Fatalf("Allocate(%s) = %d, %v, want %d, %v", s.id, got, err, s.want, s.wantErr)
		}
	}
	// b is removed: its range goes to the next new container, and the
	// state round-trips.
	delete(alive, "b")
	b, _ := p.Marshal()
	if p, err = ParseIDPool(b); err != nil {
		t.Fatal(err)
	}
	if got, err := p.Allocate("d", 3, exists); err != nil || got != 1 {
		t.Errorf("Allocate(d) after b is gone = %d, %v, want 1", got, err)
	}
	if _, ok := p.Ranges["b"]; ok {
		t.Errorf("b's range is still recorded: %v", p.Ranges)
	}
	if got := Default().RangeBase(2); got != 100000+2*65536 {
		t.Errorf("RangeBase(2) = %d", got)
	}
}

func TestParseIDPoolRefusesSharedRange(t *testing.T) {
	if _, err := ParseIDPool([]byte(`{"version":1,"ranges":{"a":3,"b":3}}`)); err == nil {
		t.Error("two containers with one range: no error")
	}
	if _, err := ParseIDPool([]byte(`{"version":2}`)); err == nil {
		t.Error("version 2: no error")
	}
}
