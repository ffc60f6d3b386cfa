package verity

import (
	"encoding/hex"
	"fmt"
	"strings"
)

// Table returns the device-mapper table line that maps dataDev, checked
// against hashDev, as Result r describes (kernel Documentation
// admin-guide/device-mapper/verity.rst):
//
//	0 <sectors> verity 1 <data_dev> <hash_dev> <data_block_size> <hash_block_size>
//	  <num_data_blocks> <hash_start_block> <algorithm> <root_hash> <salt> [<#opts> <opts>…]
//
// Devices are paths or major:minor. opts are optional arguments such as
// "restart_on_corruption", "panic_on_corruption" or "ignore_zero_blocks";
// an option with arguments is given as separate words (the count is words).
func Table(dataDev, hashDev string, r Result, opts ...string) string {
	salt := "-"
	if len(r.Salt) > 0 {
		salt = hex.EncodeToString(r.Salt)
	}
	sectors := r.DataBlocks * uint64(r.DataBlockSize) / 512
	line := fmt.Sprintf("0 %d verity 1 %s %s %d %d %d %d %s %s %s", sectors, dataDev, hashDev,
		r.DataBlockSize, r.HashBlockSize, r.DataBlocks, r.HashStartBlock, r.Algorithm, hex.EncodeToString(r.RootHash), salt)
	if len(opts) > 0 {
		line += fmt.Sprintf(" %d %s", len(opts), strings.Join(opts, " "))
	}
	return line
}
