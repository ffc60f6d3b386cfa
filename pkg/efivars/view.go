package efivars

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
)

// StoreView describes a variable store for people and programs: every
// current variable, and the signatures of the Secure Boot databases.
// WriteText prints it; its JSON form is the struct itself.
type StoreView struct {
	File        string         `json:"file"`
	Size        int            `json:"size"`
	StoreOffset int            `json:"storeOffset"`
	StoreSize   int            `json:"storeSize"`
	Used        int            `json:"used"`
	Records     int            `json:"records"`
	Dirty       bool           `json:"dirty"` // free space not erased: the firmware reclaims at its next start
	SecureBoot  bool           `json:"secureBoot"`
	FTWOffset   int            `json:"ftwOffset,omitempty"`
	FTWWrites   int            `json:"ftwWrites"`
	FTWPending  bool           `json:"ftwPending"`
	Variables   []VariableView `json:"variables"`
}

// VariableView describes one variable.
type VariableView struct {
	GUID       string          `json:"guid"`
	Namespace  string          `json:"namespace,omitempty"`
	Name       string          `json:"name"`
	Attributes string          `json:"attributes"`
	Size       int             `json:"size"`
	Time       string          `json:"time,omitempty"`
	SHA256     string          `json:"sha256"`
	Signatures []SignatureView `json:"signatures,omitempty"`
}

// SignatureView describes one entry of a signature database.
type SignatureView struct {
	Type    string `json:"type"`
	Owner   string `json:"owner"`
	Subject string `json:"subject,omitempty"`
	SHA256  string `json:"sha256"` // of the certificate, or the digest itself
}

// sigDBNames are the variables that hold signature lists (in
// GlobalVariable or ImageSecurityDatabase).
var sigDBNames = map[string]bool{NamePK: true, NameKEK: true, NameDB: true, NameDBX: true, "dbt": true, "dbr": true}

// DescribeFile reads the flash image at path and describes its store.
func DescribeFile(path string) (StoreView, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return StoreView{}, err
	}
	im, err := Parse(b)
	if err != nil {
		return StoreView{}, fmt.Errorf("%s: %w", path, err)
	}
	v, err := Describe(path, im)
	if err != nil {
		return StoreView{}, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

// Describe describes the store of im, read from file. It fails for a
// signature database whose signature lists are malformed.
func Describe(file string, im *Image) (StoreView, error) {
	v := StoreView{File: file, Size: len(im.raw), StoreOffset: im.StoreOffset, StoreSize: im.StoreSize,
		Used: im.UsedEnd - im.StoreOffset, Records: len(im.Records), Dirty: im.Dirty,
		SecureBoot: im.SecureBootEnabled(), Variables: []VariableView{}}
	if im.FTW != nil {
		v.FTWOffset, v.FTWWrites, v.FTWPending = im.FTW.Offset, im.FTW.Writes, im.FTW.Pending
	}
	for _, ev := range im.Variables() {
		view, err := describeVariable(ev)
		if err != nil {
			return v, err
		}
		v.Variables = append(v.Variables, view)
	}
	return v, nil
}

func describeVariable(v Variable) (VariableView, error) {
	sum := sha256.Sum256(v.Data)
	view := VariableView{GUID: v.GUID.String(), Name: v.Name, Attributes: v.Attributes.String(),
		Size: len(v.Data), SHA256: hex.EncodeToString(sum[:])}
	if n := GUIDName(v.GUID); n != view.GUID {
		view.Namespace = n
	}
	if !v.Time.IsZero() {
		view.Time = v.Time.String()
	}
	if !sigDBNames[v.Name] || (v.GUID != GlobalVariable && v.GUID != ImageSecurityDatabase) {
		return view, nil
	}
	lists, err := ParseSignatureLists(v.Data)
	if err != nil {
		return view, fmt.Errorf("variable %s: %w", v.Name, err)
	}
	for _, l := range lists {
		for _, s := range l.Signatures {
			sv := SignatureView{Type: GUIDName(l.Type), Owner: s.Owner.String()}
			switch l.Type {
			case CertX509:
				d := sha256.Sum256(s.Data)
				sv.SHA256 = hex.EncodeToString(d[:])
				if c, err := x509.ParseCertificate(s.Data); err == nil {
					sv.Subject = c.Subject.String()
				} else {
					sv.Subject = "(unparsable certificate: " + err.Error() + ")"
				}
			default:
				sv.SHA256 = hex.EncodeToString(s.Data)
			}
			view.Signatures = append(view.Signatures, sv)
		}
	}
	return view, nil
}

// WriteText prints v for people: a summary line, a table of the
// variables, then the signatures of each signature database.
func (v StoreView) WriteText(w io.Writer) error {
	ftw := "none"
	if v.FTWOffset != 0 {
		ftw = fmt.Sprintf("at %#x, %d writes", v.FTWOffset, v.FTWWrites)
		if v.FTWPending {
			ftw += ", one UNFINISHED"
		}
	}
	sb := "off (no PK, or SecureBootEnable=0)"
	if v.SecureBoot {
		sb = "on"
	}
	fmt.Fprintf(w, "%s: edk2 variable store at %#x, %d of %d bytes used, %d variables in %d records; FTW working block %s; Secure Boot at next start: %s\n",
		v.File, v.StoreOffset, v.Used, v.StoreSize, len(v.Variables), v.Records, ftw, sb)
	if v.Dirty {
		fmt.Fprintln(w, "note: the free space is not erased; the firmware will reclaim the store at its next start")
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GUID\tNAME\tATTRIBUTES\tSIZE\tTIME")
	for _, ev := range v.Variables {
		g := ev.GUID
		if ev.Namespace != "" {
			g = ev.Namespace
		}
		t := ev.Time
		if t == "" {
			t = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", g, ev.Name, ev.Attributes, ev.Size, t)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, ev := range v.Variables {
		if len(ev.Signatures) > 0 {
			fmt.Fprintf(w, "%s:\n", ev.Name)
		}
		for _, s := range ev.Signatures {
			desc := s.SHA256
			if s.Subject != "" {
				desc = fmt.Sprintf("%q sha256:%s", s.Subject, s.SHA256)
			}
			if _, err := fmt.Fprintf(w, "  %s owner %s %s\n", s.Type, s.Owner, desc); err != nil {
				return err
			}
		}
	}
	return nil
}
