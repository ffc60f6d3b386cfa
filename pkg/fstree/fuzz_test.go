package fstree_test

import (
	"testing"

	"github.com/hardenvm/hardenvm/pkg/fstree"
	"github.com/hardenvm/hardenvm/pkg/fstree/fstreetest"
)

// FuzzTreeOps applies random mutations and checks the tree stays
// consistent: every name Walk reports resolves to the node it reported,
// and directories are never shared.
func FuzzTreeOps(f *testing.F) {
	f.Add([]byte{0, 2, 1, 0, 1, 1, 3, 0, 0, 0, 0, 1, 2, 5, 6, 3, 2})
	f.Add([]byte{2, 1, 2, 1, 2, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{3, 6, 1, 9, 5, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
	f.Fuzz(func(t *testing.T, data []byte) {
		tr := fstreetest.FromOps(data)
		dirs := map[*fstree.Node]string{}
		err := tr.Walk(func(p string, n *fstree.Node) error {
			got, err := tr.Lookup(p)
			if err != nil || got != n {
				t.Fatalf("Walk reported %s, Lookup gives %v, %v", p, got, err)
			}
			if n.Type == fstree.Dir {
				if q, ok := dirs[n]; ok {
					t.Fatalf("directory at %s and %s", q, p)
				}
				dirs[n] = p
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tr.List(fstree.ListOptions{Digests: true}); err != nil {
			t.Fatal(err)
		}
	})
}
