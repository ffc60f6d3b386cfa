package layers

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const module = "github.com/hardenvm/hardenvm/"

// TestPipelineOrder lists every package of the module with its (non-test)
// imports and fails for an import of a later stage, and for a package that
// Of does not place.
func TestPipelineOrder(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	listed := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], module)
		listed[pkg] = true
		from, ok := Of[pkg]
		if !ok {
			t.Errorf("%s has no stage in layers.Of: place it", pkg)
			continue
		}
		for _, imp := range fields[1:] {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			dep := strings.TrimPrefix(imp, module)
			to, ok := Of[dep]
			if !ok {
				continue // reported as a package of its own
			}
			if to > from {
				t.Errorf("%s (stage %v) imports %s (stage %v), which stands later in the pipeline", pkg, from, dep, to)
			}
			if to == Test && from != Test {
				t.Errorf("%s imports the test helper %s", pkg, dep)
			}
		}
	}
	for pkg := range Of {
		if !listed[pkg] {
			t.Errorf("layers.Of places %s, which is not a package of the module", pkg)
		}
	}
}
