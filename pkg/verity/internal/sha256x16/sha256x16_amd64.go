//go:build amd64 && !purego

package sha256x16

import "golang.org/x/sys/cpu"

//go:generate go run gen.go -o block_amd64.s

// Available reports whether this CPU (and OS) can run the AVX-512 code.
var Available = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW

//go:noescape
func block(state *[8][Lanes]uint32, base *byte, idx *[Lanes]int32, nblocks int)
