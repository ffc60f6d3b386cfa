package manifest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ErrNotImageDir is matched by CheckReplaceable's refusals.
var ErrNotImageDir = errors.New("not an image directory")

// CheckReplaceable says whether dir may be replaced as a whole by a new
// image directory (build -o, pull): it may when it does not exist, is an
// empty directory, or is recognisably an image directory — it holds a
// manifest.json and nothing but regular files. Anything else (a project
// with sources, a parent of several images, a file, a symbolic link) is
// refused, so that a mistyped output path never deletes someone's work.
func CheckReplaceable(dir string) error {
	fi, err := os.Lstat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	switch {
	case fi.Mode()&os.ModeSymlink != 0:
		return fmt.Errorf("%s is a symbolic link, %w: name the directory itself or a new one", dir, ErrNotImageDir)
	case !fi.IsDir():
		return fmt.Errorf("%s exists and is not a directory, %w: choose a new directory", dir, ErrNotImageDir)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	if len(ents) == 0 {
		return nil
	}
	if fi, err := os.Lstat(filepath.Join(dir, FileName)); err != nil || !fi.Mode().IsRegular() {
		return fmt.Errorf("%s exists and is %w (no %s): choose a new or empty directory", dir, ErrNotImageDir, FileName)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			return fmt.Errorf("%s holds %s, which no image directory has, so it is %w: choose a new or empty directory", dir, e.Name(), ErrNotImageDir)
		}
	}
	return nil
}
