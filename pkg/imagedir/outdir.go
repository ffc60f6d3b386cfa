package imagedir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrNotImageDir is matched by CheckImageDir's and CheckReplaceable's
// refusals.
var ErrNotImageDir = errors.New("not an image directory")

// CheckImageDir is the one check of every command that opens an image
// directory (verify, measure, inspect, attest, run, config install, and
// Open): dir must be a directory holding a manifest. Its refusal is
// the same sentence for all of them.
func CheckImageDir(dir string) error {
	why := ""
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		why = "it does not exist"
	case err != nil:
		return err
	case !fi.IsDir():
		why = "it is not a directory"
	default:
		fi, err := os.Stat(filepath.Join(dir, Manifest))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			why = "no " + Manifest + " in it"
		case err != nil:
			return err
		case !fi.Mode().IsRegular():
			why = Manifest + " is not a regular file"
		}
	}
	if why == "" {
		return nil
	}
	return fmt.Errorf("%s is %w (%s): build one with 'hardenvm build' or pull one with 'hardenvm pull'", dir, ErrNotImageDir, why)
}

// CheckReplaceable says whether dir may be replaced as a whole by a new
// image directory (build -o, pull): it may when it does not exist, is an
// empty directory, or is recognisably an image directory — it holds a
// manifest and nothing but regular files. Anything else (a project
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
	if fi, err := os.Lstat(filepath.Join(dir, Manifest)); err != nil || !fi.Mode().IsRegular() {
		return fmt.Errorf("%s exists and is %w (no %s): choose a new or empty directory", dir, ErrNotImageDir, Manifest)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			return fmt.Errorf("%s holds %s, which no image directory has, so it is %w: choose a new or empty directory", dir, e.Name(), ErrNotImageDir)
		}
	}
	return nil
}
