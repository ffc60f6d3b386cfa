package keys

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// View describes a key set for people and programs (`hardenvm keys
// show`): WriteText prints a table; its JSON form is the struct itself.
type View struct {
	Dir   string    `json:"dir"`
	Owner string    `json:"ownerGUID"`
	Keys  []KeyView `json:"keys"`
}

// KeyView describes one key of a set.
type KeyView struct {
	Role        string `json:"role"`
	Purpose     string `json:"purpose"`
	Algorithm   string `json:"algorithm"`
	Subject     string `json:"subject,omitempty"`
	Fingerprint string `json:"sha256"`
	File        string `json:"file"` // the public part, in the set's directory
}

// View describes s, kept in dir, a key per role in the order of Roles.
func (s *Set) View(dir string) View {
	v := View{Dir: dir, Owner: s.Owner.String()}
	for _, r := range Roles {
		k := s.Get(r)
		_, pub := Files(r)
		kv := KeyView{Role: string(r), Purpose: r.Purpose(), Algorithm: k.Algorithm(), Fingerprint: k.Fingerprint(), File: pub}
		if k.Cert != nil {
			kv.Subject = k.Cert.Subject.String()
		}
		v.Keys = append(v.Keys, kv)
	}
	return v
}

// WriteText prints v as a table: each key's role, algorithm, fingerprint
// and purpose, then the owner GUID.
func (v View) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "ROLE\tALGORITHM\tSHA-256 FINGERPRINT\tPURPOSE\n")
	for _, k := range v.Keys {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.Role, k.Algorithm, k.Fingerprint, k.Purpose)
	}
	fmt.Fprintf(tw, "owner GUID: %s\n", v.Owner)
	return tw.Flush()
}
