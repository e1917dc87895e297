package tree

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Limits bound what ReadDir accepts, so a runaway directory cannot exhaust
// the daemon's memory.
type Limits struct {
	MaxFiles int   // entries of any kind; 0 means 200,000
	MaxBytes int64 // total file content; 0 means 1 GiB
}

// WithDefaults fills in the default of every limit left at zero.
func (l Limits) WithDefaults() Limits {
	if l.MaxFiles <= 0 {
		l.MaxFiles = 200_000
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = 1 << 30
	}
	return l
}

// ErrLimit is returned when a directory holds more than Limits allow.
var ErrLimit = errors.New("tree limit exceeded")

// ReadDir reads the directory root into a Tree. Symbolic links are recorded,
// not followed. Directories named in skip (base names, such as ".git") are
// left out. Device files, sockets and named pipes are refused.
func ReadDir(root string, limits Limits, skip ...string) (*Tree, error) {
	limits = limits.WithDefaults()
	skipSet := make(map[string]bool, len(skip))
	for _, s := range skip {
		skipSet[s] = true
	}
	var entries []*Entry
	var total int64
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			if !d.IsDir() {
				return fmt.Errorf("%s: not a directory", root)
			}
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() && skipSet[d.Name()] {
			return filepath.SkipDir
		}
		if len(entries) >= limits.MaxFiles {
			return fmt.Errorf("%s: more than %d entries: %w", root, limits.MaxFiles, ErrLimit)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		e := &Entry{Path: rel, Perm: unixPerm(info.Mode())}
		switch {
		case info.Mode().IsRegular():
			total += info.Size()
			if total > limits.MaxBytes {
				return fmt.Errorf("%s: more than %d bytes: %w", root, limits.MaxBytes, ErrLimit)
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			e.Kind, e.Data = File, data
		case info.IsDir():
			e.Kind = Dir
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			e.Kind, e.Target = Symlink, target
		default:
			return fmt.Errorf("%s: unsupported file type %s", p, info.Mode().Type())
		}
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return New(entries)
}

// unixPerm converts Go's mode bits to the Unix permission word (setuid,
// setgid and sticky included), which is what the tree stores.
func unixPerm(m fs.FileMode) fs.FileMode {
	p := m.Perm()
	if m&fs.ModeSetuid != 0 {
		p |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		p |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		p |= 0o1000
	}
	return p
}

// goMode converts a Unix permission word back to Go's mode bits.
func goMode(p fs.FileMode) fs.FileMode {
	m := p & 0o777
	if p&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if p&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if p&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m
}
