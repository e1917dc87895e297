package tree

import (
	"fmt"
	"os"
)

// WriteTo creates the tree's entries under dir, which must exist and be
// empty. File modes are applied exactly (umask is not), directory modes last,
// so a read-only directory can still be filled first.
func (t *Tree) WriteTo(dir string) error {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer r.Close()
	return t.WriteToRoot(r)
}

// WriteToRoot is WriteTo through an open root: nothing is created outside
// it, even if a directory of it is swapped for a symbolic link meanwhile.
func (t *Tree) WriteToRoot(r *os.Root) error {
	var dirs []*Entry
	for _, e := range t.Entries() {
		switch e.Kind {
		case Dir:
			if err := r.Mkdir(e.Path, 0o700); err != nil {
				return err
			}
			dirs = append(dirs, e)
		case File:
			if err := writeFile(r, e); err != nil {
				return err
			}
		case Symlink:
			if err := r.Symlink(e.Target, e.Path); err != nil {
				return err
			}
		}
	}
	// Deepest first: entries are in path order, so reverse order puts every
	// directory after its children.
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := r.Chmod(dirs[i].Path, goMode(dirs[i].Perm)); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(r *os.Root, e *Entry) error {
	f, err := r.OpenFile(e.Path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(e.Data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", e.Path, err)
	}
	if err := f.Chmod(goMode(e.Perm)); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
