package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// Exclusive ID ranges. Each container gets a range of Settings.UIDSize
// host IDs of its own from a pool of Settings.IDRanges ranges starting at
// Settings.UIDBase, so no two containers share a host ID: one
// container's root owns nothing of another's (processes, files on a
// shared volume it did not write, its cgroup). The range is remembered
// for the container's ID, so a restarted container gets the same one
// back, and released only once the container is gone. The pool's state
// is a small JSON file that the shim keeps with the engine's state (the
// VM's data disk).

// ErrIDsExhausted is returned when every range is held by a container
// that still exists.
var ErrIDsExhausted = errors.New("no free ID range")

// IDPool is the pool's state: which container holds which range.
type IDPool struct {
	Version int `json:"version"`
	// Ranges maps a container ID to the index of its range: host IDs
	// UIDBase+index*UIDSize … +UIDSize-1.
	Ranges map[string]int `json:"ranges"`
}

// ParseIDPool decodes the pool's state; empty data is an empty pool.
func ParseIDPool(data []byte) (*IDPool, error) {
	p := &IDPool{Version: 1, Ranges: map[string]int{}}
	if len(data) == 0 {
		return p, nil
	}
	if err := json.Unmarshal(data, p); err != nil {
		return nil, fmt.Errorf("ID pool: %w", err)
	}
	if p.Version != 1 {
		return nil, fmt.Errorf("ID pool: version %d: want 1", p.Version)
	}
	if p.Ranges == nil {
		p.Ranges = map[string]int{}
	}
	seen := map[int]string{}
	for id, i := range p.Ranges {
		if i < 0 {
			return nil, fmt.Errorf("ID pool: container %s: range %d", id, i)
		}
		if other, ok := seen[i]; ok {
			return nil, fmt.Errorf("ID pool: containers %s and %s hold the same range %d", min(id, other), max(id, other), i)
		}
		seen[i] = id
	}
	return p, nil
}

// Marshal encodes the pool's state.
func (p *IDPool) Marshal() ([]byte, error) {
	return json.MarshalIndent(p, "", "  ")
}

// Allocate returns the range index of container id: the one it holds, or
// the lowest free one among count. Ranges of containers for which exists
// reports false are released first, when a new range is needed.
func (p *IDPool) Allocate(id string, count int, exists func(id string) bool) (int, error) {
	if i, ok := p.Ranges[id]; ok && i < count {
		return i, nil
	}
	delete(p.Ranges, id)
	held := map[int]bool{}
	for _, other := range slices.Sorted(maps.Keys(p.Ranges)) {
		if !exists(other) {
			delete(p.Ranges, other)
			continue
		}
		held[p.Ranges[other]] = true
	}
	for i := range count {
		if !held[i] {
			p.Ranges[id] = i
			return i, nil
		}
	}
	return 0, fmt.Errorf("%w: all %d ranges are held by existing containers", ErrIDsExhausted, count)
}

// Release forgets container id's range.
func (p *IDPool) Release(id string) { delete(p.Ranges, id) }

// RangeBase is the first host ID of range index i.
func (s Settings) RangeBase(i int) uint32 {
	s = s.withDefaults()
	return s.UIDBase + uint32(i)*s.UIDSize
}
