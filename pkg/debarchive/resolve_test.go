package debarchive

import (
	"strings"
	"testing"
)

func index(t *testing.T, stanzas string) *Index {
	t.Helper()
	x := NewIndex("amd64")
	var b strings.Builder
	for i, s := range strings.Split(strings.TrimSpace(stanzas), "\n\n") {
		b.WriteString(s)
		name := strings.Fields(s)[1]
		b.WriteString("\nFilename: pool/main/" + name + ".deb\nSize: 1\nSHA256: " + strings.Repeat(string(rune('a'+i%6)), 64) + "\n\n")
	}
	if err := x.Add(strings.NewReader(b.String()), "Packages"); err != nil {
		t.Fatal(err)
	}
	return x
}

func TestResolve(t *testing.T) {
	tests := []struct {
		name, index string
		roots       []string
		want        string // sorted name=version, or "error: ..." substring
	}{
		{"closure", "Package: aa\nVersion: 1\nArchitecture: amd64\nDepends: bb, cc (>= 2)\nPre-Depends: dd\n\nPackage: bb\nVersion: 1\nArchitecture: all\n\nPackage: cc\nVersion: 2\nArchitecture: amd64\n\nPackage: dd\nVersion: 1\nArchitecture: amd64\n\nPackage: ee\nVersion: 1\nArchitecture: amd64",
			[]string{"aa"}, "aa=1 bb=1 cc=2 dd=1"},
		{"first alternative", "Package: aa\nVersion: 1\nArchitecture: amd64\nDepends: bb | cc\n\nPackage: bb\nVersion: 1\nArchitecture: amd64\n\nPackage: cc\nVersion: 1\nArchitecture: amd64",
			[]string{"aa"}, "aa=1 bb=1"},
		{"alternative already chosen", "Package: aa\nVersion: 1\nArchitecture: amd64\nDepends: bb | cc\n\nPackage: bb\nVersion: 1\nArchitecture: amd64\n\nPackage: cc\nVersion: 1\nArchitecture: amd64",
			[]string{"cc", "aa"}, "aa=1 cc=1"},
		{"versioned alternative skipped", "Package: aa\nVersion: 1\nArchitecture: amd64\nDepends: bb (>= 2) | cc\n\nPackage: bb\nVersion: 1\nArchitecture: amd64\n\nPackage: cc\nVersion: 1\nArchitecture: amd64",
			[]string{"aa"}, "aa=1 cc=1"},
		{"virtual by priority", "Package: aa\nVersion: 1\nArchitecture: amd64\nDepends: mta\n\nPackage: z-mta\nVersion: 1\nArchitecture: amd64\nProvides: mta\nPriority: standard\n\nPackage: b-mta\nVersion: 1\nArchitecture: amd64\nProvides: mta\nPriority: optional",
			[]string{"aa"}, "aa=1 z-mta=1"},
		{"virtual already provided", "Package: aa\nVersion: 1\nArchitecture: amd64\nDepends: mta\n\nPackage: z-mta\nVersion: 1\nArchitecture: amd64\nProvides: mta\nPriority: standard\n\nPackage: b-mta\nVersion: 1\nArchitecture: amd64\nProvides: mta\nPriority: optional",
			[]string{"b-mta", "aa"}, "aa=1 b-mta=1"},
		{"versioned provides", "Package: aa\nVersion: 1\nArchitecture: amd64\nDepends: vv (>= 2)\n\nPackage: p1\nVersion: 1\nArchitecture: amd64\nProvides: vv\n\nPackage: p2\nVersion: 1\nArchitecture: amd64\nProvides: vv (= 3)",
			[]string{"aa"}, "aa=1 p2=1"},
		{"unversioned provides cannot meet a versioned dependency", "Package: aa\nVersion: 1\nArchitecture: amd64\nDepends: vv (>= 2)\n\nPackage: p1\nVersion: 1\nArchitecture: amd64\nProvides: vv",
			[]string{"aa"}, "error: aa 1 Depends: vv (>= 2): no provider of vv has a version >= 2"},
		{"highest version wins", "Package: aa\nVersion: 1\nArchitecture: amd64\n\nPackage: aa\nVersion: 1.10\nArchitecture: amd64\n\nPackage: aa\nVersion: 1.9\nArchitecture: amd64",
			[]string{"aa"}, "aa=1.10"},
		{"other architectures ignored", "Package: aa\nVersion: 1\nArchitecture: amd64\nDepends: bb\n\nPackage: bb\nVersion: 1\nArchitecture: arm64",
			[]string{"aa"}, "error: unsatisfiable dependency: aa 1 Depends: bb: bb is not in the index (amd64)"},
		{"cycle", "Package: aa\nVersion: 1\nArchitecture: amd64\nDepends: bb\n\nPackage: bb\nVersion: 1\nArchitecture: amd64\nPre-Depends: aa (= 1)",
			[]string{"aa"}, "aa=1 bb=1"},
		{"chain", "Package: aa\nVersion: 1\nArchitecture: amd64\nDepends: bb\n\nPackage: bb\nVersion: 1\nArchitecture: amd64\nDepends: cc\n\nPackage: cc\nVersion: 1\nArchitecture: amd64\nDepends: dd (>> 1)\n\nPackage: dd\nVersion: 1\nArchitecture: amd64",
			[]string{"aa"}, "error: unsatisfiable dependency: aa 1 -> bb 1 -> cc 1 Depends: dd (>> 1): dd has version 1, not >> 1"},
		{"missing root", "Package: aa\nVersion: 1\nArchitecture: amd64",
			[]string{"zz"}, "error: cannot install requested package zz: zz is not in the index (amd64)"},
		{"virtual root", "Package: aa\nVersion: 1\nArchitecture: amd64\nProvides: awk",
			[]string{"awk"}, "aa=1"},
		{"arch qualifier", "Package: aa\nVersion: 1\nArchitecture: amd64\nDepends: bb:any, cc:i386 | bb\n\nPackage: bb\nVersion: 1\nArchitecture: amd64",
			[]string{"aa"}, "aa=1 bb=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pkgs, err := index(t, tt.index).Resolve(tt.roots)
			var got string
			if err != nil {
				got = "error: " + err.Error()
				if !strings.HasPrefix(tt.want, "error: ") || !strings.Contains(got, strings.TrimPrefix(tt.want, "error: ")) {
					t.Errorf("Resolve = %s, want %s", got, tt.want)
				}
				return
			}
			var names []string
			for _, p := range pkgs {
				names = append(names, p.Name+"="+p.Version.String())
			}
			if got = strings.Join(names, " "); got != tt.want {
				t.Errorf("Resolve = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestKernelPackages(t *testing.T) {
	x := index(t, `Package: linux-image-cloud-amd64
Version: 6.12.117-1
Architecture: amd64
Depends: linux-image-6.12.117+deb13-cloud-amd64 (= 6.12.117-1)

Package: linux-image-6.12.117+deb13-cloud-amd64
Version: 6.12.117-1
Architecture: amd64
Depends: kmod, initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool
Pre-Depends: linux-base (>= 4.12~)`)
	ps, err := x.KernelPackages("linux-image-cloud-amd64")
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 || ps[1].Name != "linux-image-6.12.117+deb13-cloud-amd64" {
		t.Errorf("KernelPackages = %v", ps)
	}
	if _, err := x.KernelPackages("linux-image-amd64"); err == nil {
		t.Errorf("KernelPackages of a missing package succeeded")
	}
}
