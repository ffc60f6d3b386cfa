package debarchive

import (
	"fmt"
	"strings"
	"testing"
)

// synthPackages makes a Packages index shaped like Debian's main/amd64
// (about 70,000 stanzas with dependencies, provides and descriptions).
func synthPackages(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "Package: pkg%d\nVersion: 1:%d.%d-%d+b1\nArchitecture: amd64\nMaintainer: Someone <someone@test.invalid>\nInstalled-Size: %d\n", i, i%7+1, i%13, i%5, i*3)
		fmt.Fprintf(&b, "Depends: pkg%d (>= 1:0.1), pkg%d | pkg%d, libc6 (>= 2.36)\nPre-Depends: pkg%d\nProvides: virt%d (= 1.0)\n", (i+1)%n, (i+2)%n, (i+3)%n, (i+4)%n, i%100)
		fmt.Fprintf(&b, "Priority: optional\nSection: misc\nFilename: pool/main/p/pkg%d/pkg%d_%d_amd64.deb\nSize: %d\n", i, i, i, 1000+i)
		fmt.Fprintf(&b, "SHA256: %064x\nDescription: package number %d\n A longer description that spans\n several lines as Debian's do.\n .\n It ends here.\n\n", i, i)
	}
	b.WriteString("Package: libc6\nVersion: 2.41-12\nArchitecture: amd64\nFilename: pool/main/g/glibc/libc6.deb\nSize: 1\nSHA256: " + strings.Repeat("a", 64) + "\n")
	return b.String()
}

func BenchmarkIndexAdd(b *testing.B) {
	text := synthPackages(70000)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		x := NewIndex("amd64")
		if err := x.Add(strings.NewReader(text), "Packages"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkResolve resolves a package whose closure is the whole synthetic
// index (every package depends on the next).
func BenchmarkResolve(b *testing.B) {
	x := NewIndex("amd64")
	if err := x.Add(strings.NewReader(synthPackages(20000)), "Packages"); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		ps, err := x.Resolve([]string{"pkg0"})
		if err != nil || len(ps) != 20001 {
			b.Fatalf("Resolve = %d packages, %v", len(ps), err)
		}
	}
}
