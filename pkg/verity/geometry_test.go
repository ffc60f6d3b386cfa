package verity

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestGeometryLevels(t *testing.T) {
	// Expected shapes worked out by hand at each level boundary: with 4096-
	// byte blocks and sha256 a hash block holds 128 digests; with 512-byte
	// blocks, 16; with sha512 and 4096, 64.
	type lv = []Level
	tests := []struct {
		name       string
		blocks     uint64
		bs, digest int
		want       lv
	}{
		{"1 block: no tree", 1, 4096, 32, lv{}},
		{"2 blocks", 2, 4096, 32, lv{{0, 1}}},
		{"127", 127, 4096, 32, lv{{0, 1}}},
		{"128 = one full block", 128, 4096, 32, lv{{0, 1}}},
		{"129 adds a level", 129, 4096, 32, lv{{1, 2}, {0, 1}}},
		{"16384 = 128²", 16384, 4096, 32, lv{{1, 128}, {0, 1}}},
		{"16385", 16385, 4096, 32, lv{{3, 129}, {1, 2}, {0, 1}}},
		{"262144 (1 GiB)", 262144, 4096, 32, lv{{17, 2048}, {1, 16}, {0, 1}}},
		{"2097152 = 128³", 2097152, 4096, 32, lv{{129, 16384}, {1, 128}, {0, 1}}},
		{"2097153", 2097153, 4096, 32, lv{{132, 16385}, {3, 129}, {1, 2}, {0, 1}}},
		{"512-byte blocks, 16", 16, 512, 32, lv{{0, 1}}},
		{"512-byte blocks, 17", 17, 512, 32, lv{{1, 2}, {0, 1}}},
		{"512-byte blocks, 516", 516, 512, 32, lv{{4, 33}, {1, 3}, {0, 1}}},
		{"sha512, 64", 64, 4096, 64, lv{{0, 1}}},
		{"sha512, 65", 65, 4096, 64, lv{{1, 2}, {0, 1}}},
		{"20-byte digest uses 32-byte slots", 129, 4096, 20, lv{{1, 2}, {0, 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := NewGeometry(tt.blocks, tt.bs, tt.bs, tt.digest)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, g.Levels); diff != "" {
				t.Errorf("NewGeometry(%d, %d) levels diff (-want +got):\n%s", tt.blocks, tt.bs, diff)
			}
			// Invariants: the top level has one block, each level covers the
			// one below, levels are contiguous from 0, top first.
			var pos, total uint64
			for i := len(g.Levels) - 1; i >= 0; i-- {
				l := g.Levels[i]
				if l.Start != pos {
					t.Errorf("level %d starts at %d, want %d", i, l.Start, pos)
				}
				pos += l.Blocks
				total += l.Blocks
				hpb := uint64(g.HashesPerBlock)
				if c := g.children(i); l.Blocks*hpb < c || (l.Blocks-1)*hpb >= c {
					t.Errorf("level %d: %d blocks for %d children", i, l.Blocks, c)
				}
			}
			if len(g.Levels) > 0 && g.Levels[len(g.Levels)-1].Blocks != 1 {
				t.Errorf("top level has %d blocks", g.Levels[len(g.Levels)-1].Blocks)
			}
			if g.HashBlocks() != total {
				t.Errorf("HashBlocks() = %d, want %d", g.HashBlocks(), total)
			}
		})
	}
}

func TestGeometryErrors(t *testing.T) {
	tests := []struct {
		name           string
		blocks         uint64
		dbs, hbs, dsiz int
	}{
		{"no data", 0, 4096, 4096, 32},
		{"data block not a power of two", 10, 3000, 4096, 32},
		{"data block too small", 10, 256, 4096, 32},
		{"hash block too big", 10, 4096, 1 << 20, 32},
		{"digest too big", 10, 4096, 512, 512},
		{"device too large", 1 << 62, 4096, 4096, 32},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if g, err := NewGeometry(tt.blocks, tt.dbs, tt.hbs, tt.dsiz); err == nil {
				t.Errorf("NewGeometry = %+v, want an error", g)
			}
		})
	}
}
