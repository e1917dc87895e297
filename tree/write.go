package tree

import (
	"fmt"
	"os"
	"path/filepath"
)

// WriteTo creates the tree's entries under dir, which must exist and be
// empty. File modes are applied exactly (umask is not), directory modes last,
// so a read-only directory can still be filled first.
func (t *Tree) WriteTo(dir string) error {
	var dirs []*Entry
	for _, e := range t.Entries() {
		p := filepath.Join(dir, filepath.FromSlash(e.Path))
		switch e.Kind {
		case Dir:
			if err := os.Mkdir(p, 0o700); err != nil {
				return err
			}
			dirs = append(dirs, e)
		case File:
			if err := writeFile(p, e); err != nil {
				return err
			}
		case Symlink:
			if err := os.Symlink(e.Target, p); err != nil {
				return err
			}
		}
	}
	// Deepest first: entries are in path order, so reverse order puts every
	// directory after its children.
	for i := len(dirs) - 1; i >= 0; i-- {
		p := filepath.Join(dir, filepath.FromSlash(dirs[i].Path))
		if err := os.Chmod(p, goMode(dirs[i].Perm)); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(p string, e *Entry) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(e.Data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err := f.Chmod(goMode(e.Perm)); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
