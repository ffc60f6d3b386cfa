package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/hardenvm/hardenvm/internal/imagetest"
	"github.com/hardenvm/hardenvm/internal/registrytest"
	"github.com/hardenvm/hardenvm/internal/testenv"
	"github.com/hardenvm/hardenvm/pkg/efivars"
	"github.com/hardenvm/hardenvm/pkg/imagedir"
	"github.com/hardenvm/hardenvm/pkg/manifest"
	"github.com/hardenvm/hardenvm/pkg/verity/veritysetup"
)

// jsonCase is how TestJSONOutput runs one command with --json.
type jsonCase struct {
	// ok runs the command on fixtures; nil when it cannot run in a unit
	// test (why says why). Its output must be one JSON object; a command
	// that fails after it had data (verify with a failed check) adds an
	// "error" member to it.
	ok  func(t *testing.T, f *jsonFixtures) []string
	why string
	// noData: the command prints no data on success, even with --json.
	noData bool
	// external: the output is a document in someone else's format (a
	// JSON Schema); only checked to be JSON.
	external bool
	// fail is an invocation that fails before there is any data.
	fail func(t *testing.T, f *jsonFixtures) []string
	code int // fail's exit code
}

// jsonCases has an entry for every runnable command, by path without the
// program's name. TestJSONOutput fails for a command that has none, so a new
// command gets one.
var jsonCases = map[string]jsonCase{
	"version": {ok: args("version"), fail: args("version", "extra"), code: exitUsage},
	"keys":    {ok: nil, why: "groups subcommands", fail: args("keys"), code: exitUsage},
	"keys init": {
		ok: func(t *testing.T, f *jsonFixtures) []string {
			return []string{"keys", "init", "--keys", filepath.Join(t.TempDir(), "k")}
		},
		fail: func(t *testing.T, f *jsonFixtures) []string {
			return []string{"keys", "init", "--keys", f.image(t).KeyDir}
		}, code: exitFailure,
	},
	"keys show": {
		ok: func(t *testing.T, f *jsonFixtures) []string {
			return []string{"keys", "show", "--keys", f.image(t).KeyDir}
		},
		fail: func(t *testing.T, f *jsonFixtures) []string { return []string{"keys", "show", "--keys", f.missing(t)} }, code: exitFailure,
	},
	"lock": {
		ok:   func(t *testing.T, f *jsonFixtures) []string { return []string{"lock", f.lockSpec(t)} },
		fail: func(t *testing.T, f *jsonFixtures) []string { return []string{"lock", f.missing(t)} }, code: exitFailure,
	},
	"build": {
		why:  "builds a whole image; its output, manifest.json, is checked by TestJSONManifest",
		fail: func(t *testing.T, f *jsonFixtures) []string { return []string{"build", f.missing(t)} }, code: exitFailure,
	},
	"run": {
		why:  "boots QEMU (test/qemu)",
		fail: func(t *testing.T, f *jsonFixtures) []string { return []string{"run", f.missing(t)} }, code: exitFailure,
	},
	"verify": {
		ok: func(t *testing.T, f *jsonFixtures) []string {
			return []string{"verify", f.image(t).Dir, "--keys", f.image(t).KeyDir}
		},
		fail: func(t *testing.T, f *jsonFixtures) []string { return []string{"verify", f.missing(t)} }, code: exitFailure,
	},
	"measure": {
		ok:   func(t *testing.T, f *jsonFixtures) []string { return []string{"measure", f.enrolledImage(t).Dir} },
		fail: func(t *testing.T, f *jsonFixtures) []string { return []string{"measure", t.TempDir()} }, code: exitFailure,
	},
	"attest": {
		// Evidence that does not verify: the report, with the error.
		ok: func(t *testing.T, f *jsonFixtures) []string {
			p := filepath.Join(t.TempDir(), "evidence.json")
			os.WriteFile(p, []byte(`{"nonce":"AQID","evidence":{"quote":"AAEC","signature":"AAEC"}}`), 0o644)
			return []string{"attest", f.image(t).Dir, "--quote", p, "--nonce", "010203"}
		},
		fail: func(t *testing.T, f *jsonFixtures) []string { return []string{"attest", f.image(t).Dir} }, code: exitUsage,
	},
	"inspect": {
		ok:   func(t *testing.T, f *jsonFixtures) []string { return []string{"inspect", f.image(t).Dir} },
		fail: func(t *testing.T, f *jsonFixtures) []string { return []string{"inspect", f.missing(t)} }, code: exitFailure,
	},
	"push": {
		ok: func(t *testing.T, f *jsonFixtures) []string {
			return []string{"push", f.image(t).Dir, f.registry(t) + "/hardenvm/json:v1", "--keys", f.image(t).KeyDir}
		},
		fail: func(t *testing.T, f *jsonFixtures) []string {
			return []string{"push", f.missing(t), "127.0.0.1:1/x:y", "--keys", f.image(t).KeyDir}
		}, code: exitFailure,
	},
	"pull": {
		ok: func(t *testing.T, f *jsonFixtures) []string {
			ref := f.registry(t) + "/hardenvm/json:pull"
			if code, _, stderr := hv(t, "push", f.image(t).Dir, ref, "--keys", f.image(t).KeyDir); code != 0 {
				t.Fatalf("push: %s", stderr)
			}
			return []string{"pull", ref, filepath.Join(t.TempDir(), "vm"), "--keys", f.image(t).KeyDir}
		},
		fail: func(t *testing.T, f *jsonFixtures) []string {
			return []string{"pull", "127.0.0.1:1/x:y", filepath.Join(t.TempDir(), "vm"), "--keys", f.image(t).KeyDir}
		}, code: exitFailure,
	},
	"verity": {why: "groups subcommands", fail: args("verity"), code: exitUsage},
	"verity format": {
		ok: func(t *testing.T, f *jsonFixtures) []string {
			return []string{"verity", "format", f.data(t), filepath.Join(t.TempDir(), "h")}
		},
		fail: func(t *testing.T, f *jsonFixtures) []string {
			return []string{"verity", "format", f.missing(t), f.missing(t)}
		}, code: exitFailure,
	},
	"verity verify": {
		ok: func(t *testing.T, f *jsonFixtures) []string {
			data, hash, root := f.tree(t)
			return []string{"verity", "verify", data, hash, root}
		},
		fail: func(t *testing.T, f *jsonFixtures) []string {
			data, hash, _ := f.tree(t)
			return []string{"verity", "verify", data, hash, strings.Repeat("00", 32)}
		}, code: exitFailure,
	},
	"verity dump": {
		ok: func(t *testing.T, f *jsonFixtures) []string {
			_, hash, _ := f.tree(t)
			return []string{"verity", "dump", hash}
		},
		fail: func(t *testing.T, f *jsonFixtures) []string { return []string{"verity", "dump", f.data(t)} }, code: exitFailure,
	},
	"config": {why: "groups subcommands", fail: args("config"), code: exitUsage},
	"config build": {
		ok: func(t *testing.T, f *jsonFixtures) []string { return f.configBuild(t) },
		fail: func(t *testing.T, f *jsonFixtures) []string {
			return []string{"config", "build", f.missing(t), "-o", f.missing(t)}
		}, code: exitFailure,
	},
	"config sign": {
		ok: func(t *testing.T, f *jsonFixtures) []string {
			return []string{"config", "sign", f.configImage(t), "--keys", f.image(t).KeyDir}
		},
		fail: func(t *testing.T, f *jsonFixtures) []string {
			return []string{"config", "sign", f.data(t), "--keys", f.image(t).KeyDir}
		}, code: exitFailure,
	},
	"config verify": {
		ok: func(t *testing.T, f *jsonFixtures) []string {
			img := f.configImage(t)
			if code, _, stderr := hv(t, "config", "sign", img, "--keys", f.image(t).KeyDir); code != 0 {
				t.Fatalf("config sign: %s", stderr)
			}
			return []string{"config", "verify", img, "--keys", f.image(t).KeyDir}
		},
		fail: func(t *testing.T, f *jsonFixtures) []string {
			return []string{"config", "verify", f.configImage(t), "--keys", f.image(t).KeyDir}
		}, code: exitFailure,
	},
	"config install": {
		why: "needs a built image with a config partition (TestConfigInstall*); it prints manifest.json's config, checked by TestJSONManifest",
		fail: func(t *testing.T, f *jsonFixtures) []string {
			return []string{"config", "install", t.TempDir(), f.missing(t)}
		}, code: exitFailure,
	},
	"config schema": {ok: args("config", "schema"), external: true, fail: args("config", "schema", "x"), code: exitUsage},
	"efivars":       {why: "groups subcommands", fail: args("efivars"), code: exitUsage},
	"efivars enroll": {
		ok: func(t *testing.T, f *jsonFixtures) []string {
			testenv.File(t, efivars.DefaultTemplate, "ovmf")
			return []string{"efivars", "enroll", "--keys", f.image(t).KeyDir, "-o", filepath.Join(t.TempDir(), "vars.fd")}
		},
		noData: true,
		fail:   func(t *testing.T, f *jsonFixtures) []string { return []string{"efivars", "enroll"} }, code: exitUsage,
	},
	"efivars dump": {
		ok: func(t *testing.T, f *jsonFixtures) []string {
			return []string{"efivars", "dump", filepath.Join(f.enrolledImage(t).Dir, imagedir.Vars)}
		},
		fail: func(t *testing.T, f *jsonFixtures) []string { return []string{"efivars", "dump", f.data(t)} }, code: exitFailure,
	},
}

func args(a ...string) func(*testing.T, *jsonFixtures) []string {
	return func(*testing.T, *jsonFixtures) []string { return a }
}

// TestJSONOutput walks every command: with --json, its output is one JSON
// object in our one style (checkJSON), and a failure prints exactly
// {"error": "…"}, the line stderr has, with the usual exit code.
func TestJSONOutput(t *testing.T) {
	f := newJSONFixtures(t)
	root := newRoot(&app{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}})
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if !c.Runnable() || c.Flag("json") == nil || c == root {
			return
		}
		path := cmdName(c)
		tc, ok := jsonCases[path]
		if !ok {
			t.Errorf("%s takes --json but has no case in jsonCases: add one", path)
			return
		}
		t.Run(strings.ReplaceAll(path, " ", "_"), func(t *testing.T) {
			if tc.ok == nil && tc.why == "" {
				t.Fatal("a case without ok must say why")
			}
			if tc.ok != nil {
				a := tc.ok(t, f)
				code, stdout, stderr := hv(t, append(a, "--json")...)
				switch {
				case tc.noData:
					if code != exitOK || stdout != "" {
						t.Errorf("%q: exit %d, stdout %q (stderr %q); want exit 0 and no output", a, code, stdout, stderr)
					}
				case tc.external:
					if code != exitOK || !json.Valid([]byte(stdout)) {
						t.Errorf("%q: exit %d, not JSON: %.200q (stderr %q)", a, code, stdout, stderr)
					}
				default:
					v := decodeOne(t, stdout)
					if code != exitOK {
						if e, _ := v["error"].(string); e == "" || "hardenvm: "+e+"\n" != stderr {
							t.Errorf("%q: exit %d with data: error member %q, stderr %q", a, code, v["error"], stderr)
						}
					}
					for _, p := range checkJSON("", v) {
						t.Errorf("%q: %s", a, p)
					}
				}
			}
			a := tc.fail(t, f)
			code, stdout, stderr := hv(t, append(a, "--json")...)
			if code != tc.code {
				t.Errorf("%q: exit %d, want %d (stderr %q)", a, code, tc.code, stderr)
			}
			checkErrorJSON(t, stdout, stderr)
		})
	}
	walk(root)
}

// TestJSONErrorBeforeParsing: mistakes cobra finds before our flags are
// parsed (an unknown command or flag) still print {"error": "…"}.
func TestJSONErrorBeforeParsing(t *testing.T) {
	for _, a := range [][]string{{"--json", "bogus"}, {"verify", "--json", "--bogus", "x"}, {"keys", "show", "--json", "x"}} {
		code, stdout, stderr := hv(t, a...)
		if code != exitUsage {
			t.Errorf("%q: exit %d, want 2", a, code)
		}
		checkErrorJSON(t, stdout, stderr)
	}
	// Without --json, stdout stays empty.
	if _, stdout, _ := hv(t, "bogus"); stdout != "" {
		t.Errorf("bogus: stdout %q", stdout)
	}
}

// TestJSONManifest checks manifest.json (build --json, config install
// --json print it or its config) in the one style, with a measured
// prediction and a config.
func TestJSONManifest(t *testing.T) {
	im := enrolledImage(t)
	p, err := func() (*manifest.PCRs, error) {
		code, stdout, stderr := hv(t, "measure", im.Dir, "--json")
		if code != 0 {
			return nil, fmt.Errorf("measure: %s", stderr)
		}
		var p manifest.PCRs
		return &p, json.Unmarshal([]byte(stdout), &p)
	}()
	if err != nil {
		t.Fatal(err)
	}
	m := *im.Manifest
	m.PCRs = p
	m.Config = &manifest.Config{RootHash: strings.Repeat("ab", 32), DataBlocks: 2, Size: 8192, SHA256: strings.Repeat("cd", 32), Signer: strings.Repeat("ef", 32)}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range checkJSON("", decodeOne(t, string(b))) {
		t.Error(p)
	}
}

func decodeOne(t *testing.T, s string) map[string]any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(s))
	var v map[string]any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("not one JSON object: %v\n%.300s", err, s)
	}
	if d.More() {
		t.Fatalf("more than one JSON value:\n%.300s", s)
	}
	return v
}

// checkErrorJSON: stdout is exactly {"error": "…"} with stderr's line.
func checkErrorJSON(t *testing.T, stdout, stderr string) {
	t.Helper()
	v := decodeOne(t, stdout)
	e, _ := v["error"].(string)
	if len(v) != 1 || e == "" {
		t.Errorf("stdout %q, want exactly {\"error\": \"…\"}", stdout)
	}
	if want := "hardenvm: " + e + "\n"; !strings.HasSuffix(stderr, want) {
		t.Errorf("stderr %q does not end with the JSON error's line %q", stderr, want)
	}
	assertOneLine(t, stderr)
}

var (
	camelCase = regexp.MustCompile(`^[a-z][a-zA-Z0-9]*$`)
	// Keys whose values are digests: their value is a whole hex digest.
	digestKey = regexp.MustCompile(`(?i)(sha256|digest|hash|fingerprint)$`)
	fullHex   = regexp.MustCompile(`^(sha256:)?([0-9a-f]{64}|[0-9a-f]{128})$`)
	// Digests cut short inside text: hex followed by an ellipsis, or a
	// "sha256" not followed by 64 hex digits.
	cutHex    = regexp.MustCompile(`[0-9a-f]{6,}(…|\.\.\.)`)
	sha256Hex = regexp.MustCompile(`sha256[: ]([0-9a-f]+)\b`)
	uuidKey   = regexp.MustCompile(`(?i)(uuid|guid)$`)
	uuidForm  = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
)

// dataKeyed are members whose keys are data (file names, PCR numbers,
// firmware digests), not field names.
var dataKeyed = []string{"artifacts", "values", "firmware", "golden"}

// checkJSON returns every way v departs from the one style: keys in
// camelCase (no Go field names, no snake_case), digests whole, UUIDs as
// strings.
func checkJSON(path string, v any) []string {
	var probs []string
	switch v := v.(type) {
	case map[string]any:
		last := path[strings.LastIndex(path, ".")+1:]
		for k, x := range v {
			p := path + "." + k
			if !slices.Contains(dataKeyed, last) && !camelCase.MatchString(k) {
				probs = append(probs, fmt.Sprintf("%s: key %q is not camelCase", p, k))
			}
			if s, ok := x.(string); ok && s != "" && digestKey.MatchString(k) && !fullHex.MatchString(s) {
				probs = append(probs, fmt.Sprintf("%s = %q: not a whole hex digest", p, s))
			}
			if uuidKey.MatchString(k) {
				if s, ok := x.(string); !ok || (s != "" && !uuidForm.MatchString(s)) {
					probs = append(probs, fmt.Sprintf("%s = %v: not a UUID string", p, x))
				}
			}
			probs = append(probs, checkJSON(p, x)...)
		}
	case []any:
		if len(v) == 16 && !slices.ContainsFunc(v, func(x any) bool { _, ok := x.(float64); return !ok }) {
			probs = append(probs, fmt.Sprintf("%s: an array of 16 numbers (a UUID as bytes?)", path))
		}
		for i, x := range v {
			probs = append(probs, checkJSON(fmt.Sprintf("%s[%d]", path, i), x)...)
		}
	case string:
		if m := cutHex.FindString(v); m != "" {
			probs = append(probs, fmt.Sprintf("%s: digest cut short (%q) in %q", path, m, v))
		}
		for _, m := range sha256Hex.FindAllStringSubmatch(v, -1) {
			if len(m[1]) != 64 && len(m[1]) >= 6 {
				probs = append(probs, fmt.Sprintf("%s: sha256 of %d hex digits in %q", path, len(m[1]), v))
			}
		}
	}
	return probs
}

// TestCheckJSON: the style check finds what issue 13 item 16 found.
func TestCheckJSON(t *testing.T) {
	bad := map[string]any{
		"verity":   map[string]any{"UUID": []any{1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0}},
		"sections": []any{map[string]any{"virtual_size": 1.0}},
		"detail":   "sha256 0123456789abcdef…, 10 bytes",
		"sha256":   "0123456789abcdef",
		"diskGuid": "not a uuid",
	}
	if got := checkJSON("", bad); len(got) != 8 {
		t.Errorf("checkJSON found %d problems, want 8:\n%s", len(got), strings.Join(got, "\n"))
	}
	good := map[string]any{"artifacts": map[string]any{"disk.raw": map[string]any{"sha256": strings.Repeat("a", 64)}},
		"uuid": "4f0f1a2b-0000-4000-8000-000000000001", "detail": "sha256 " + strings.Repeat("b", 64)}
	if got := checkJSON("", good); len(got) != 0 {
		t.Errorf("checkJSON(good) = %q", got)
	}
}

// jsonFixtures are made once, by the parent test (a subtest's temporary
// directories go when it ends).
type jsonFixtures struct {
	img, enrolled *imagetest.Image
	reg           string
	dataFile      string
	treeFiles     [3]string
	settings      string
}

func newJSONFixtures(t *testing.T) *jsonFixtures {
	f := &jsonFixtures{img: imagetest.New(t, imagetest.Options{}), enrolled: enrolledImage(t)}
	f.reg = registrytest.Start(t, "ci", "pw").Addr
	f.dataFile = filepath.Join(t.TempDir(), "data.img")
	b := make([]byte, 16*4096)
	for i := range b {
		b[i] = byte(i * 7)
	}
	os.WriteFile(f.dataFile, b, 0o644)
	hash := filepath.Join(t.TempDir(), "data.verity")
	code, stdout, stderr := hv(t, "verity", "format", "--json", f.dataFile, hash)
	var info veritysetup.Info
	if code != 0 || json.Unmarshal([]byte(stdout), &info) != nil {
		t.Fatalf("verity format: exit %d, %s", code, stderr)
	}
	f.treeFiles = [3]string{f.dataFile, hash, info.RootHash}
	f.settings = filepath.Join(t.TempDir(), "admin-settings.json")
	os.WriteFile(f.settings, []byte(`{"configurationFileVersion":2}`), 0o644)
	return f
}

func (f *jsonFixtures) missing(t *testing.T) string { return filepath.Join(t.TempDir(), "missing") }

func (f *jsonFixtures) image(t *testing.T) *imagetest.Image { return f.img }

func (f *jsonFixtures) enrolledImage(t *testing.T) *imagetest.Image { return f.enrolled }

func (f *jsonFixtures) registry(t *testing.T) string {
	registrytest.DockerConfig(t, f.reg, "ci", "pw")
	return f.reg
}

func (f *jsonFixtures) lockSpec(t *testing.T) string {
	_, _, spec := lockFixture(t)
	return spec
}

func (f *jsonFixtures) data(t *testing.T) string { return f.dataFile }

// tree is a data file, its hash tree and root hash.
func (f *jsonFixtures) tree(t *testing.T) (data, hash, root string) {
	return f.treeFiles[0], f.treeFiles[1], f.treeFiles[2]
}

func (f *jsonFixtures) configBuild(t *testing.T) []string {
	return []string{"config", "build", f.settings, "-o", filepath.Join(t.TempDir(), "config.img")}
}

// configImage is a new, unsigned config image.
func (f *jsonFixtures) configImage(t *testing.T) string {
	a := f.configBuild(t)
	if code, _, stderr := hv(t, a...); code != 0 {
		t.Fatalf("config build: %s", stderr)
	}
	return a[len(a)-1]
}
