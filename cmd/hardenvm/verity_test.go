package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hardenvm/hardenvm/internal/testenv"
	"github.com/hardenvm/hardenvm/pkg/verity/veritysetup"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(context.Background(), args, &o, &e)
	return code, o.String(), e.String()
}

// verityFixture writes a data file of n blocks and formats it with the CLI,
// returning the paths and the --json result.
func verityFixture(t *testing.T, n int) (dir, data, hash string, info veritysetup.Info) {
	t.Helper()
	dir = t.TempDir()
	data, hash = filepath.Join(dir, "data.img"), filepath.Join(dir, "data.verity")
	b := make([]byte, n*4096)
	for i := range b {
		b[i] = byte(i*7 + i/4096)
	}
	if err := os.WriteFile(data, b, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "verity", "format", "--json", data, hash)
	if code != 0 {
		t.Fatalf("verity format: exit %d: %s", code, errOut)
	}
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatalf("verity format --json: %v\n%s", err, out)
	}
	return dir, data, hash, info
}

func TestVerityFormatVerifyDump(t *testing.T) {
	dir, data, hash, info := verityFixture(t, 200)
	if info.DataBlocks != 200 || info.HashBlocks != 3 || len(info.RootHash) != 64 || len(info.Salt) != 64 {
		t.Errorf("format result %+v", info)
	}
	// Deterministic: formatting again gives the same file.
	again := filepath.Join(dir, "again.verity")
	if code, _, e := runCLI(t, "verity", "format", data, again); code != 0 {
		t.Fatalf("second format: %s", e)
	}
	a, _ := os.ReadFile(hash)
	b, _ := os.ReadFile(again)
	if !bytes.Equal(a, b) {
		t.Errorf("formatting the same data twice gave different hash files")
	}
	code, out, e := runCLI(t, "verity", "verify", data, hash, info.RootHash)
	if code != 0 || !strings.HasPrefix(out, "ok: ") {
		t.Errorf("verify: exit %d, stdout %q, stderr %q", code, out, e)
	}
	code, out, e = runCLI(t, "verity", "dump", "--json", hash)
	var dumped veritysetup.Info
	if code != 0 || json.Unmarshal([]byte(out), &dumped) != nil {
		t.Fatalf("dump: exit %d, stdout %q, stderr %q", code, out, e)
	}
	want := info
	want.RootHash = ""
	if dumped != want {
		t.Errorf("dump = %+v, want %+v", dumped, want)
	}
	if code, out, _ = runCLI(t, "verity", "dump", hash); code != 0 || !strings.Contains(out, "Salt:             "+info.Salt) {
		t.Errorf("dump: exit %d, output:\n%s", code, out)
	}
	code, out, _ = runCLI(t, "verity", "format", "--salt", "00ff", "--uuid", "01234567-89ab-cdef-0123-456789abcdef", data, again)
	if code != 0 || !strings.Contains(out, "UUID:             01234567-89ab-cdef-0123-456789abcdef") || !strings.Contains(out, "Salt:             00ff") {
		t.Errorf("format with --salt/--uuid: exit %d, output:\n%s", code, out)
	}
}

// TestVerityErrors: each bad input gives exit 1 (2 for usage mistakes) and
// exactly one line on stderr that says what is wrong.
func TestVerityErrors(t *testing.T) {
	dir, data, hash, info := verityFixture(t, 130)
	orig, _ := os.ReadFile(hash)
	variant := func(name string, edit func([]byte) []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, edit(bytes.Clone(orig)), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	truncated := variant("truncated", func(b []byte) []byte { return b[:len(b)-100] })
	badMagic := variant("magic", func(b []byte) []byte { copy(b, "LUKS"); return b })
	unknownAlg := variant("alg", func(b []byte) []byte { copy(b[32:64], "whirlpool\x00"); return b })
	longSalt := variant("salt", func(b []byte) []byte { binary.LittleEndian.PutUint16(b[80:], 257); return b })
	flippedHash := variant("flipped", func(b []byte) []byte { b[2*4096+5] ^= 0x10; return b })
	flippedData := filepath.Join(dir, "flipped.img")
	d, _ := os.ReadFile(data)
	d[77*4096+1000] ^= 1
	os.WriteFile(flippedData, d, 0o644)
	unaligned := filepath.Join(dir, "odd.img")
	os.WriteFile(unaligned, d[:5000], 0o644)

	tests := []struct {
		name string
		args []string
		code int
		want string // regexp the error line must match
	}{
		{"verify truncated hash file", []string{"verity", "verify", data, truncated, info.RootHash}, 1, `truncated: \d+ bytes, but a tree for 130 data blocks needs \d+`},
		{"dump truncated hash file", []string{"verity", "dump", truncated}, 1, `truncated`},
		{"verify wrong magic", []string{"verity", "verify", data, badMagic, info.RootHash}, 1, `bad magic`},
		{"dump wrong magic", []string{"verity", "dump", badMagic}, 1, `bad magic`},
		{"dump unknown algorithm", []string{"verity", "dump", unknownAlg}, 1, `unsupported hash algorithm "whirlpool"`},
		{"verify unknown algorithm", []string{"verity", "verify", data, unknownAlg, info.RootHash}, 1, `unsupported hash algorithm`},
		{"dump salt over 256 bytes", []string{"verity", "dump", longSalt}, 1, `salt longer than 256 bytes`},
		{"format --salt over 256 bytes", []string{"verity", "format", "--salt", strings.Repeat("ab", 257), data, filepath.Join(dir, "x")}, 1, `salt longer than 256 bytes: got 257`},
		{"format unaligned data", []string{"verity", "format", unaligned, filepath.Join(dir, "x")}, 1, `not a multiple of the data block size.*pad`},
		{"format missing data", []string{"verity", "format", filepath.Join(dir, "nope"), filepath.Join(dir, "x")}, 1, `no such file`},
		{"verify flipped data", []string{"verity", "verify", flippedData, hash, info.RootHash}, 1, `data block 77 \(bytes 315392-319487\) does not match`},
		{"verify flipped hash", []string{"verity", "verify", data, flippedHash, info.RootHash}, 1, `hash block 2 \(tree level 0, bytes 8192-12287 of the hash device\)`},
		{"verify wrong root", []string{"verity", "verify", data, hash, strings.Repeat("0", 64)}, 1, `hash block 1 \(tree level 1.*root hash`},
		{"verify bad hex root", []string{"verity", "verify", data, hash, "xyz"}, 2, `ROOTHASH`},
		{"format bad --salt hex", []string{"verity", "format", "--salt", "xyz", data, filepath.Join(dir, "x")}, 2, `--salt`},
		{"format bad --uuid", []string{"verity", "format", "--uuid", "nope", data, filepath.Join(dir, "x")}, 2, `--uuid`},
		{"no subcommand", []string{"verity"}, 2, `want a subcommand`},
		{"missing argument", []string{"verity", "verify", data, hash}, 2, `want 3 argument`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d; stderr %q", code, tt.code, stderr)
			}
			if strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "hardenvm: ") {
				t.Errorf("stderr is not one 'hardenvm: ' line: %q", stderr)
			}
			if !regexp.MustCompile(tt.want).MatchString(stderr) {
				t.Errorf("stderr %q does not match %q", stderr, tt.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "x")); !os.IsNotExist(err) {
		t.Errorf("a failed format left its output behind: %v", err)
	}
}

// TestVerityPeer: the CLI verifies a tree veritysetup made, and veritysetup
// verifies one the CLI made with the derived salt.
func TestVerityPeer(t *testing.T) {
	bin := testenv.Tool(t, "veritysetup", "cryptsetup-bin")
	dir, data, hash, info := verityFixture(t, 300)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, bin, "verify", data, hash, info.RootHash).CombinedOutput(); err != nil {
		t.Errorf("veritysetup verify of our tree: %v: %s", err, out)
	}
	theirs := filepath.Join(dir, "theirs.verity")
	out, err := exec.CommandContext(ctx, bin, "format", data, theirs).Output()
	if err != nil {
		t.Fatalf("veritysetup format: %v", err)
	}
	m := regexp.MustCompile(`Root hash:\s+([0-9a-f]{64})`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no root hash in %s", out)
	}
	if code, _, e := runCLI(t, "verity", "verify", data, theirs, string(m[1])); code != 0 {
		t.Errorf("verity verify of veritysetup's tree: exit %d: %s", code, e)
	}
}
