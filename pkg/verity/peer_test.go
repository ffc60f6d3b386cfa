package verity

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/hardenvm/hardenvm/internal/testenv"
)

// writeRandomFile writes n pseudo-random bytes to a new file in dir.
func writeRandomFile(t testing.TB, dir string, seed uint64, n int64) string {
	t.Helper()
	path := filepath.Join(dir, fmt.Sprintf("data-%d", seed))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4<<20)
	r := newChaCha(seed)
	for left := n; left > 0; {
		p := buf[:min(int64(len(buf)), left)]
		r.Read(p)
		if _, err := f.Write(p); err != nil {
			t.Fatal(err)
		}
		left -= int64(len(p))
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

var rootHashRE = regexp.MustCompile(`(?m)^Root hash:\s+([0-9a-f]+)$`)

// veritysetup runs the peer tool with a bounded time and returns stdout.
func veritysetup(t testing.TB, args ...string) (string, error) {
	t.Helper()
	bin := testenv.Tool(t, "veritysetup", "cryptsetup-bin")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("veritysetup %q: %v: %s", args, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return stdout.String(), nil
}

func formatFile(t testing.TB, dataPath, hashPath string, p Params) Result {
	t.Helper()
	data, err := os.Open(dataPath)
	if err != nil {
		t.Fatal(err)
	}
	defer data.Close()
	fi, _ := data.Stat()
	out, err := os.Create(hashPath)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	res, err := Format(context.Background(), data, fi.Size(), out, p)
	if err != nil {
		t.Fatalf("Format(%s): %v", dataPath, err)
	}
	return res
}

func verifyFiles(dataPath, hashPath string, root []byte) (Result, error) {
	data, err := os.Open(dataPath)
	if err != nil {
		return Result{}, err
	}
	defer data.Close()
	hash, err := os.Open(hashPath)
	if err != nil {
		return Result{}, err
	}
	defer hash.Close()
	di, _ := data.Stat()
	hi, _ := hash.Stat()
	return Verify(context.Background(), data, di.Size(), hash, hi.Size(), root)
}

// TestPeerVeritysetup: for each size, our hash file is byte-identical to
// veritysetup's with the same salt and UUID, veritysetup verifies ours and
// we verify its.
func TestPeerVeritysetup(t *testing.T) {
	testenv.Tool(t, "veritysetup", "cryptsetup-bin")
	tests := []struct {
		blocks   int64
		alg      string
		dbs, hbs int
		salt     string
	}{
		{1, "sha256", 4096, 4096, "00112233"},
		{127, "sha256", 4096, 4096, "0a"},
		{128, "sha256", 4096, 4096, "5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed"},
		{129, "sha256", 4096, 4096, "ff"},
		{16384, "sha256", 4096, 4096, "c0ffee"},
		{16385, "sha256", 4096, 4096, "c0ffee"},
		{262144, "sha256", 4096, 4096, "1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef"},
		{129, "sha256", 4096, 4096, "-"},                                 // no salt
		{3, "sha256", 4096, 4096, hex.EncodeToString(make([]byte, 256))}, // longest salt
		{5000, "sha256", 512, 512, "abcd"},
		{516, "sha256", 1024, 512, "abcd"},
		{4097, "sha512", 4096, 4096, "abcd"},
	}
	dir := t.TempDir()
	for i, tt := range tests {
		name := fmt.Sprintf("%s-%d-%d-%d-blocks", tt.alg, tt.dbs, tt.hbs, tt.blocks)
		if tt.salt == "-" {
			name += "-nosalt"
		}
		t.Run(name, func(t *testing.T) {
			if testing.Short() && tt.blocks*int64(tt.dbs) >= 1<<30 {
				t.Skip("1 GiB peer comparison skipped in -short mode (make test runs it)")
			}
			dataPath := writeRandomFile(t, dir, uint64(i), tt.blocks*int64(tt.dbs))
			defer os.Remove(dataPath)
			uuid := fmt.Sprintf("%08x-1111-4222-8333-444444444444", i)
			theirs, ours := filepath.Join(dir, "theirs"), filepath.Join(dir, "ours")
			defer os.Remove(theirs)
			defer os.Remove(ours)
			out, err := veritysetup(t, "format", "--hash="+tt.alg, fmt.Sprint("--data-block-size=", tt.dbs),
				fmt.Sprint("--hash-block-size=", tt.hbs), "--salt="+tt.salt, "--uuid="+uuid, dataPath, theirs)
			if err != nil {
				t.Fatal(err)
			}
			m := rootHashRE.FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("no root hash in veritysetup output:\n%s", out)
			}
			salt := []byte{}
			if tt.salt != "-" {
				salt, _ = hex.DecodeString(tt.salt)
			}
			u, _ := ParseUUID(uuid)
			res := formatFile(t, dataPath, ours, Params{Algorithm: tt.alg, DataBlockSize: tt.dbs, HashBlockSize: tt.hbs, Salt: salt, UUID: u})
			if got := hex.EncodeToString(res.RootHash); got != m[1] {
				t.Errorf("root hash %s, veritysetup's %s", got, m[1])
			}
			a, _ := os.ReadFile(theirs)
			b, _ := os.ReadFile(ours)
			if !bytes.Equal(a, b) {
				t.Errorf("hash file (%d bytes) differs from veritysetup's (%d bytes) at byte %d", len(b), len(a), firstDiff(a, b))
			}
			if _, err := veritysetup(t, "verify", dataPath, ours, m[1]); err != nil {
				t.Errorf("veritysetup rejects our tree: %v", err)
			}
			if _, err := verifyFiles(dataPath, theirs, res.RootHash); err != nil {
				t.Errorf("Verify rejects veritysetup's tree: %v", err)
			}
		})
	}
}

// TestPeerDerivedSalt: R0 in the salt derivation is the root hash that
// `veritysetup format --salt=-` prints, as the package doc promises.
func TestPeerDerivedSalt(t *testing.T) {
	testenv.Tool(t, "veritysetup", "cryptsetup-bin")
	dir := t.TempDir()
	dataPath := writeRandomFile(t, dir, 99, 300*4096)
	out, err := veritysetup(t, "format", "--salt=-", dataPath, filepath.Join(dir, "theirs"))
	if err != nil {
		t.Fatal(err)
	}
	m := rootHashRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no root hash in veritysetup output:\n%s", out)
	}
	r0, _ := hex.DecodeString(m[1])
	res := formatFile(t, dataPath, filepath.Join(dir, "ours"), Params{})
	g, _ := NewGeometry(300, 4096, 4096, 32)
	if want := DeriveSalt(g, "sha256", r0); !bytes.Equal(res.Salt, want) {
		t.Errorf("derived salt %x, want %x (from veritysetup's unsalted root %s)", res.Salt, want, m[1])
	}
	if _, err := veritysetup(t, "verify", dataPath, filepath.Join(dir, "ours"), hex.EncodeToString(res.RootHash)); err != nil {
		t.Errorf("veritysetup rejects our tree with a derived salt: %v", err)
	}
}

// TestPeerPadding: veritysetup, too, refuses a tree with non-zero bytes in
// the unused area of a hash block, so Verify's stricter-than-kernel check
// matches the peer.
func TestPeerPadding(t *testing.T) {
	testenv.Tool(t, "veritysetup", "cryptsetup-bin")
	data, hash, root := dirtyPaddingTree(t)
	dir := t.TempDir()
	dataPath, hashPath := filepath.Join(dir, "data"), filepath.Join(dir, "hash")
	if err := os.WriteFile(dataPath, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(hashPath, hash, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := veritysetup(t, "verify", dataPath, hashPath, hex.EncodeToString(root)); err == nil {
		t.Errorf("veritysetup accepted a tree with dirty padding")
	} else {
		t.Logf("veritysetup: %v", err)
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
