package imagedir_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardenvm/hardenvm/internal/imagetest"
	"github.com/hardenvm/hardenvm/pkg/imagedir"
)

func TestLoadTrust(t *testing.T) {
	im := imagetest.New(t, imagetest.Options{})
	k := func(name string) string { return filepath.Join(im.KeyDir, name) }
	tests := []struct {
		name   string
		files  imagedir.TrustFiles
		dbCert bool   // the db certificate is pinned
		err    string // "" for success
	}{
		{"key set", imagedir.TrustFiles{Keys: im.KeyDir}, true, ""},
		{"key alone", imagedir.TrustFiles{Key: k("signing.pub")}, false, ""},
		{"key and db certificate", imagedir.TrustFiles{Key: k("signing.pub"), DBCert: k("db.crt")}, true, ""},
		{"db certificate as key", imagedir.TrustFiles{Key: k("db.crt")}, false, "it belongs to --db-cert"},
		{"private key as key", imagedir.TrustFiles{Key: k("signing.key")}, false, "never the private key"},
		{"public key as db certificate", imagedir.TrustFiles{Key: k("signing.pub"), DBCert: k("signing.pub")}, false, "it belongs to --key"},
		{"missing db certificate", imagedir.TrustFiles{Key: k("signing.pub"), DBCert: k("nope.crt")}, false, "does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := imagedir.LoadTrust(tt.files)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("LoadTrust = %v, want an error saying %q", err, tt.err)
				}
				return
			}
			if err != nil || o.PublicKey == nil || (o.DBCert != nil) != tt.dbCert {
				t.Errorf("LoadTrust = key %v, db certificate %v, %v; want the key, db certificate %v", o.PublicKey != nil, o.DBCert != nil, err, tt.dbCert)
			}
		})
	}
	t.Run("nothing named", func(t *testing.T) {
		t.Chdir(t.TempDir()) // no ./keys
		if _, err := imagedir.LoadTrust(imagedir.TrustFiles{}); !errors.Is(err, imagedir.ErrNoTrustAnchor) {
			t.Errorf("LoadTrust() = %v, want ErrNoTrustAnchor", err)
		}
	})
}
