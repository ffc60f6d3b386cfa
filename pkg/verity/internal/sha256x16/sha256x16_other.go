//go:build !amd64 || purego

package sha256x16

// Available is false: there is no vector implementation for this platform.
var Available = false

func block(state *[8][Lanes]uint32, base *byte, idx *[Lanes]int32, nblocks int) {
	panic("sha256x16: not available")
}
