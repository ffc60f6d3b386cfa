package main

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hardenvm/hardenvm/pkg/efivars"
	"github.com/hardenvm/hardenvm/pkg/imagedir"
	"github.com/hardenvm/hardenvm/pkg/keys"
	"github.com/hardenvm/hardenvm/pkg/vm"
)

func init() { register(newEfivarsCmd) }

func newEfivarsCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "efivars",
		Short: "Enroll Secure Boot keys into an OVMF variable store, and list its variables",
		Example: `  hardenvm efivars enroll --keys keys -o vars.fd
  hardenvm efivars dump out/minimal/` + imagedir.Vars,
		RunE: wantSubcommand,
	}
	cmd.AddCommand(newEfivarsEnrollCmd(a), newEfivarsDumpCmd(a))
	return cmd
}

func newEfivarsEnrollCmd(a *app) *cobra.Command {
	var keyDir, template, out, at string
	cmd := &cobra.Command{
		Use:   "enroll -o OUT",
		Short: "Write a variable store with our PK, KEK and db enrolled (Secure Boot on at first boot)",
		Long: `enroll copies the OVMF variable store template and writes into it PK, KEK and
db from the key set (one X.509 EFI_SIGNATURE_LIST each, owned by the set's
owner GUID, authenticated-variable attributes), SecureBootEnable=1 and
CustomMode=0. There is no dbx. Keys already in the template are dropped.

The timestamp in the authenticated variable headers is --time, else
SOURCE_DATE_EPOCH, else the PK certificate's start of validity: the output
depends on its inputs only. OUT is written atomically.`,
		Example: `  hardenvm efivars enroll --keys keys -o vars.fd
  hardenvm efivars enroll --keys keys --template /usr/share/OVMF/OVMF_VARS_4M.fd --time 2026-01-01T00:00:00Z -o vars.fd`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usagef("efivars enroll: --output (-o) is required")
			}
			set, err := keys.Load(keyDir)
			if err != nil {
				return err
			}
			ts, err := enrollTime(at, set)
			if err != nil {
				return err
			}
			e, err := efivars.KeySetEnrollment(set, ts)
			if err != nil {
				return err
			}
			if err := efivars.EnrollFile(template, out, e); err != nil {
				return err
			}
			a.log.Info("enrolled", "output", out, "owner", e.Owner, "time", ts.Format(time.RFC3339))
			return nil
		},
	}
	cmd.Flags().StringVar(&keyDir, "keys", "keys", "key directory (hardenvm keys init)")
	cmd.Flags().StringVar(&template, "template", vm.OVMFVarsTemplate, "OVMF variable store template (Debian's ovmf package)")
	cmd.Flags().StringVarP(&out, "output", "o", "", "variable store to write")
	cmd.Flags().StringVar(&at, "time", "", "timestamp of the authenticated variables (RFC 3339 or @UNIX)")
	return cmd
}

// enrollTime picks the authenticated variables' timestamp from inputs.
func enrollTime(flag string, set *keys.Set) (time.Time, error) {
	if flag != "" {
		t, err := parseTimeFlag(flag)
		if err != nil {
			return t, usagef("efivars enroll: --time %q: want RFC 3339 (2026-01-02T15:04:05Z) or @UNIX seconds", flag)
		}
		return t, nil
	}
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("efivars enroll: SOURCE_DATE_EPOCH=%q is not a number of seconds", s)
		}
		return time.Unix(n, 0).UTC(), nil
	}
	return set.Get(keys.PK).Cert.NotBefore.UTC(), nil
}

func parseTimeFlag(s string) (time.Time, error) {
	if rest, ok := strings.CutPrefix(s, "@"); ok {
		n, err := strconv.ParseInt(rest, 10, 64)
		return time.Unix(n, 0).UTC(), err
	}
	return time.Parse(time.RFC3339, s)
}

// efivarView is the --json form of one variable.
type efivarView struct {
	GUID       string          `json:"guid"`
	Namespace  string          `json:"namespace,omitempty"`
	Name       string          `json:"name"`
	Attributes string          `json:"attributes"`
	Size       int             `json:"size"`
	Time       string          `json:"time,omitempty"`
	SHA256     string          `json:"sha256"`
	Signatures []signatureView `json:"signatures,omitempty"`
}

type signatureView struct {
	Type    string `json:"type"`
	Owner   string `json:"owner"`
	Subject string `json:"subject,omitempty"`
	SHA256  string `json:"sha256"` // of the certificate, or the digest itself
}

type storeView struct {
	File        string       `json:"file"`
	Size        int          `json:"size"`
	StoreOffset int          `json:"storeOffset"`
	StoreSize   int          `json:"storeSize"`
	Used        int          `json:"used"`
	Records     int          `json:"records"`
	Dirty       bool         `json:"dirty"` // free space not erased: the firmware reclaims at its next start
	SecureBoot  bool         `json:"secureBoot"`
	FTWOffset   int          `json:"ftwOffset,omitempty"`
	FTWWrites   int          `json:"ftwWrites"`
	FTWPending  bool         `json:"ftwPending"`
	Variables   []efivarView `json:"variables"`
}

var sigDBNames = map[string]bool{"PK": true, "KEK": true, "db": true, "dbx": true, "dbt": true, "dbr": true}

func newEfivarsDumpCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "dump FILE",
		Short: "List the variables of an OVMF variable store",
		Long: `dump lists every current variable of an edk2 variable store with its vendor
GUID, name, attributes, size and timestamp, and for PK, KEK, db and dbx the
signatures they hold (owner, certificate subject, SHA-256).`,
		Example: `  hardenvm efivars dump out/minimal/` + imagedir.Vars + `
  hardenvm efivars dump --json /usr/share/OVMF/OVMF_VARS_4M.ms.fd`,
		Args: exactArgs("FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			im, err := efivars.Parse(b)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			v := storeView{File: args[0], Size: len(b), StoreOffset: im.StoreOffset, StoreSize: im.StoreSize,
				Used: im.UsedEnd - im.StoreOffset, Records: len(im.Records), Dirty: im.Dirty,
				SecureBoot: im.SecureBootEnabled(), Variables: []efivarView{}}
			if im.FTW != nil {
				v.FTWOffset, v.FTWWrites, v.FTWPending = im.FTW.Offset, im.FTW.Writes, im.FTW.Pending
			}
			for _, ev := range im.Variables() {
				view, err := newEfivarView(ev)
				if err != nil {
					return fmt.Errorf("%s: %w", args[0], err)
				}
				v.Variables = append(v.Variables, view)
			}
			if a.json {
				return a.printJSON(v)
			}
			return printStore(a, v)
		},
	}
}

func newEfivarView(v efivars.Variable) (efivarView, error) {
	sum := sha256.Sum256(v.Data)
	view := efivarView{GUID: v.GUID.String(), Name: v.Name, Attributes: v.Attributes.String(),
		Size: len(v.Data), SHA256: hex.EncodeToString(sum[:])}
	if n := v.GUID.Name(); n != view.GUID {
		view.Namespace = n
	}
	if !v.Time.IsZero() {
		view.Time = v.Time.String()
	}
	if !sigDBNames[v.Name] || (v.GUID != efivars.GlobalVariable && v.GUID != efivars.ImageSecurityDatabase) {
		return view, nil
	}
	lists, err := efivars.ParseSignatureLists(v.Data)
	if err != nil {
		return view, fmt.Errorf("variable %s: %w", v.Name, err)
	}
	for _, l := range lists {
		for _, s := range l.Signatures {
			sv := signatureView{Type: l.Type.Name(), Owner: s.Owner.String()}
			switch l.Type {
			case efivars.CertX509:
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

func printStore(a *app, v storeView) error {
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
	fmt.Fprintf(a.stdout, "%s: edk2 variable store at %#x, %d of %d bytes used, %d variables in %d records; FTW working block %s; Secure Boot at next start: %s\n",
		v.File, v.StoreOffset, v.Used, v.StoreSize, len(v.Variables), v.Records, ftw, sb)
	if v.Dirty {
		fmt.Fprintln(a.stdout, "note: the free space is not erased; the firmware will reclaim the store at its next start")
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
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
			fmt.Fprintf(a.stdout, "%s:\n", ev.Name)
		}
		for _, s := range ev.Signatures {
			desc := s.SHA256
			if s.Subject != "" {
				desc = fmt.Sprintf("%q sha256:%s", s.Subject, s.SHA256)
			}
			fmt.Fprintf(a.stdout, "  %s owner %s %s\n", s.Type, s.Owner, desc)
		}
	}
	return nil
}
