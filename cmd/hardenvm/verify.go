package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hardenvm/hardenvm/pkg/keys"
	"github.com/hardenvm/hardenvm/pkg/manifest"
	"github.com/hardenvm/hardenvm/pkg/sign"
	"github.com/hardenvm/hardenvm/pkg/verify"
)

func init() { register(newVerifyCmd) }

func newVerifyCmd(a *app) *cobra.Command {
	var tf trustFlags
	cmd := &cobra.Command{
		Use:   "verify DIR",
		Short: "Check an image directory's signature, artifact digests, verity tree and UKI signature",
		Long: `verify checks a built image directory offline, one line per check:

  bundle        manifest.sigstore.json signs manifest.json (artifact-signing key)
  digest        every artifact the manifest lists has its SHA-256 and size
  verity        disk.raw's root partition matches its verity tree and the root hash
  authenticode  uki.efi is signed by the db certificate
  config        the config partition's admin signature (not checked yet)

If the bundle does not verify, nothing else is checked. It exits 1 naming
every artifact that failed.

Trust comes from the artifact-signing public key: --key PUB, or
DIR/signing.pub of a key set given with --keys DIR. Without either, the key
set in ./keys (where 'hardenvm keys init' and 'hardenvm build' put it) is
used when it exists. The UKI must be signed by the db certificate whose
SHA-256 the signed manifest names; --db-cert CRT (or db.crt of the key set)
also pins it to that certificate.`,
		Example: `  hardenvm verify out/minimal --keys keys
  hardenvm verify out/minimal --key vendor-signing.pub --db-cert vendor-db.crt
  hardenvm verify out/minimal --key signing.pub --json`,
		Args: exactArgs("DIR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := manifest.CheckImageDir(args[0]); err != nil {
				return err
			}
			o, err := tf.options()
			if err != nil {
				return err
			}
			r, err := verifyDir(cmd.Context(), args[0], o)
			if err != nil {
				return err
			}
			if a.json {
				if err := a.printJSON(r); err != nil {
					return err
				}
			} else {
				printChecks(a.stdout, r)
			}
			if err := r.Err(); err != nil {
				return err
			}
			if !a.json {
				fmt.Fprintf(a.stdout, "verified %s\n", args[0])
			}
			return nil
		},
	}
	tf.register(cmd.Flags())
	return cmd
}

func verifyDir(ctx context.Context, dir string, o verify.Options) (*verify.Report, error) {
	if err := manifest.CheckImageDir(dir); err != nil {
		return nil, err
	}
	return verify.Dir(ctx, dir, o)
}

func printChecks(w io.Writer, r *verify.Report) {
	for _, c := range r.Checks {
		fmt.Fprintf(w, "%-4s  %-12s  %-22s  %s\n", c.Status, c.Name, c.Artifact, c.Detail)
	}
}

// trustFlags are the trust anchors of verify, run and pull.
type trustFlags struct {
	key, keys, dbCert string
}

// defaultKeyDir is where 'hardenvm keys init' and 'hardenvm build' keep
// the key set by default.
const defaultKeyDir = "keys"

func (t *trustFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&t.key, "key", "", "artifact-signing public key (PEM), e.g. the publisher's signing.pub")
	fl.StringVar(&t.keys, "keys", "", "key set directory: its signing.pub and db.crt are the trust anchors (default ./keys when it exists)")
	fl.StringVar(&t.dbCert, "db-cert", "", "the Secure Boot db certificate (PEM) the UKI must be signed by")
}

// options loads the trust anchors the flags name.
func (t *trustFlags) options() (verify.Options, error) {
	var o verify.Options
	dir := t.keys
	if dir == "" && t.key == "" {
		if _, err := os.Stat(filepath.Join(defaultKeyDir, pubFile(keys.Signing))); err == nil {
			dir = defaultKeyDir
		}
	}
	keyPath := t.key
	if keyPath == "" {
		if dir == "" {
			return o, usagef("no artifact-signing public key to verify with: pass --key PUB (the publisher's signing.pub) or --keys DIR")
		}
		keyPath = filepath.Join(dir, pubFile(keys.Signing))
	}
	pub, err := sign.LoadPublicKey(keyPath)
	if err != nil {
		if t.key == "" {
			return o, err
		}
		return o, keyFlagError(t.key, err)
	}
	o.PublicKey = pub
	certPath := t.dbCert
	if certPath == "" && dir != "" {
		p := filepath.Join(dir, pubFile(keys.DB))
		if _, err := os.Stat(p); err == nil {
			certPath = p
		}
	}
	if certPath != "" {
		if o.DBCert, err = loadCert(certPath); err != nil {
			return o, err
		}
	}
	return o, nil
}

// keyFlagError says, for a file given to --key that is not a public key,
// what it is and which flag it belongs to.
func keyFlagError(path string, err error) error {
	var ne *sign.NotPublicKeyError
	if !errors.As(err, &ne) {
		return err
	}
	hint := "--key takes the artifact-signing public key (signing.pub)"
	switch role, _ := certRole(ne.Cert); {
	case role == keys.DB:
		hint = "it belongs to --db-cert; " + hint
	case role == keys.Admin:
		hint = "it belongs to 'hardenvm config verify --cert'; " + hint
	case role != "":
		hint = "verify does not take it (it is enrolled in OVMF_VARS.fd); " + hint
	case ne.Cert != nil || ne.What == "a certificate":
		hint = "a Secure Boot db certificate belongs to --db-cert; " + hint
	case ne.What == "a private key":
		hint = "give its public half, never the private key: " + hint
	}
	what := ne.What
	if ne.Cert != nil {
		if role, ok := certRole(ne.Cert); ok {
			what = fmt.Sprintf("the %s certificate (subject %q)", roleName(role), ne.Cert.Subject.CommonName)
		} else {
			what = fmt.Sprintf("a certificate (subject %q)", ne.Cert.Subject.CommonName)
		}
	}
	return fmt.Errorf("--key %s is %s, not a public key: %s", path, what, hint)
}

func certRole(c *x509.Certificate) (keys.Role, bool) {
	if c == nil {
		return "", false
	}
	return keys.CertRole(c)
}

func roleName(r keys.Role) string {
	switch r {
	case keys.PK, keys.KEK:
		return "Secure Boot " + strings.ToUpper(string(r))
	case keys.DB:
		return "Secure Boot db"
	case keys.Admin:
		return "config partition's admin"
	}
	return string(r)
}

func pubFile(r keys.Role) string {
	_, p := keys.Files(r)
	return p
}

func loadCert(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("db certificate %s does not exist", path)
		}
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk != nil && blk.Type == "PUBLIC KEY" {
		return nil, fmt.Errorf("--db-cert %s is a public key, not a certificate: it belongs to --key; --db-cert takes the Secure Boot db certificate (db.crt)", path)
	}
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s: not a PEM certificate", path)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}
