package benchtable

import (
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

const output = `goos: linux
goarch: amd64
pkg: github.com/hardenvm/hardenvm/pkg/erofs
cpu: Intel(R) Xeon(R)
BenchmarkCompressedVsMkfsErofs/desktop-root-2         	       1	5000000000 ns/op	        40.5 ours-MiB	        39.0 peer-MiB	         1.04 ratio	         1.05 target-ratio-MiB	         2.10 ours-s	         2.50 peer-s
BenchmarkWriteVsMkfsErofs/100MiB-2    	       1	 300 ns/op	 12.0 ms/hardenvm
pkg: github.com/hardenvm/hardenvm/pkg/imagebuild
BenchmarkDesktopBuild/warm-2          	       1	7900000000 ns/op	         7.90 ours-s	         8.00 target-s	       380 ours-MiB	       400 target-MiB
BenchmarkDesktopBuild/no-change-2     	       1	2500000000 ns/op	         2.50 ours-s	         7.90 peer-s	         2.00 target-s
BenchmarkBoot/hardened-vs-plain-2     	       1	2500000000 ns/op	        22.0 ours-s	        20.0 peer-s	         1.10 target-ratio
--- FAIL: BenchmarkOther
PASS
`

func TestRows(t *testing.T) {
	res, err := Parse(strings.NewReader(output))
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 5 || res[2].Pkg != "github.com/hardenvm/hardenvm/pkg/imagebuild" || res[0].Name != "CompressedVsMkfsErofs/desktop-root" {
		t.Fatalf("Parse = %+v", res)
	}
	nan := math.NaN()
	want := []Row{
		{Line: "CompressedVsMkfsErofs/desktop-root", Unit: "MiB", Ours: 40.5, Peer: 39, Ratio: 40.5 / 39, Target: 1.05, TargetRatio: true},
		{Line: "CompressedVsMkfsErofs/desktop-root", Unit: "s", Ours: 2.1, Peer: 2.5, Ratio: 2.1 / 2.5, Target: nan},
		{Line: "DesktopBuild/warm", Unit: "s", Ours: 7.9, Peer: nan, Ratio: nan, Target: 8},
		{Line: "DesktopBuild/warm", Unit: "MiB", Ours: 380, Peer: nan, Ratio: nan, Target: 400},
		{Line: "DesktopBuild/no-change", Unit: "s", Ours: 2.5, Peer: 7.9, Ratio: 2.5 / 7.9, Target: 2},
		{Line: "Boot/hardened-vs-plain", Unit: "s", Ours: 22, Peer: 20, Ratio: 1.1, Target: 1.1, TargetRatio: true},
	}
	got := Rows(res)
	if d := cmp.Diff(want, got, cmpopts.EquateNaNs(), cmpopts.EquateApprox(0, 1e-9)); d != "" {
		t.Errorf("Rows: diff (-want +got)\n%s", d)
	}
	met := []bool{true, true, true, true, false, true}
	for i, r := range got {
		if r.Met() != met[i] {
			t.Errorf("%s %s: Met() = %v, want %v", r.Line, r.Unit, r.Met(), met[i])
		}
	}
	var b strings.Builder
	if err := Write(&b, got); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		"| CompressedVsMkfsErofs/desktop-root | MiB  | 40.5 | 39   | 1.04  | ratio ≤ 1.05 | yes |",
		"| DesktopBuild/warm                  | MiB  | 380  | —    | —     | ours ≤ 400   | yes |",
		"| DesktopBuild/no-change             | s    | 2.5  | 7.9  | 0.316 | ours ≤ 2     | NO  |",
	} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("Write lacks %q:\n%s", s, b.String())
		}
	}
}

func TestParseBadMetric(t *testing.T) {
	_, err := Parse(strings.NewReader("BenchmarkX-2  1  abc ours-s\n"))
	if err == nil || !strings.Contains(err.Error(), `metric "abc"`) {
		t.Errorf("Parse = %v, want a metric error", err)
	}
}
