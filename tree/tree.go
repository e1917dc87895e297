// Package tree is an immutable, in-memory file tree: what a source yields as a
// snapshot of the desired state and what an artifact is once cut out of it.
//
// A Tree is read completely before anyone acts on it, so a reconcile never sees
// a half-written directory, and what was validated is exactly what is deployed.
package tree

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// Kind says what an entry is. Device files, sockets and pipes have no kind:
// they are refused when a tree is read.
type Kind uint8

const (
	File Kind = iota
	Dir
	Symlink
)

func (k Kind) String() string {
	switch k {
	case Dir:
		return "dir"
	case Symlink:
		return "symlink"
	}
	return "file"
}

// Entry is one file, directory or symbolic link. Path is slash-separated and
// relative to the tree's root, never "." or containing "..".
type Entry struct {
	Path   string
	Kind   Kind
	Perm   fs.FileMode // permission bits only (0o7777)
	Data   []byte      // file content
	Target string      // symlink target, as written
	Sum    [32]byte    // sha256 of Data (files) or Target (symlinks)
}

// Tree is a set of entries with a content digest. Its zero value is empty.
type Tree struct {
	entries []*Entry // sorted by Path
	index   map[string]*Entry
	digest  string
	size    int64
}

// New builds a tree from entries. Paths are cleaned and checked; the parent
// directories of every entry are added when missing.
func New(entries []*Entry) (*Tree, error) {
	t := &Tree{index: make(map[string]*Entry, len(entries))}
	for _, e := range entries {
		if err := checkPath(e.Path); err != nil {
			return nil, err
		}
		if _, dup := t.index[e.Path]; dup {
			return nil, fmt.Errorf("%s: duplicate entry", e.Path)
		}
		switch e.Kind {
		case File:
			e.Sum = sha256.Sum256(e.Data)
			t.size += int64(len(e.Data))
		case Symlink:
			if e.Target == "" {
				return nil, fmt.Errorf("%s: symlink with empty target", e.Path)
			}
			e.Sum = sha256.Sum256([]byte(e.Target))
		}
		e.Perm &= 0o7777
		t.index[e.Path] = e
		t.entries = append(t.entries, e)
	}
	for _, e := range t.entries {
		for dir := path.Dir(e.Path); dir != "."; dir = path.Dir(dir) {
			if p, ok := t.index[dir]; ok {
				if p.Kind != Dir {
					return nil, fmt.Errorf("%s: parent %s is a %s, not a directory", e.Path, dir, p.Kind)
				}
				break
			}
			d := &Entry{Path: dir, Kind: Dir, Perm: 0o755}
			t.index[dir] = d
			t.entries = append(t.entries, d)
		}
	}
	sort.Slice(t.entries, func(i, j int) bool { return t.entries[i].Path < t.entries[j].Path })
	t.digest = computeDigest(t.entries)
	return t, nil
}

func checkPath(p string) error {
	switch {
	case p == "" || p == ".":
		return fmt.Errorf("empty path in tree")
	case strings.HasPrefix(p, "/"):
		return fmt.Errorf("%s: absolute path in tree", p)
	case path.Clean(p) != p:
		return fmt.Errorf("%s: path is not clean", p)
	case p == ".." || strings.HasPrefix(p, "../"):
		return fmt.Errorf("%s: path escapes the tree", p)
	}
	return nil
}

// computeDigest hashes every entry's path, kind, permissions and content hash,
// in path order: two trees with the same digest deploy the same bytes.
func computeDigest(entries []*Entry) string {
	h := sha256.New()
	for _, e := range entries {
		fmt.Fprintf(h, "%s\x00%d\x00%o\x00", e.Path, e.Kind, e.Perm)
		if e.Kind != Dir {
			h.Write(e.Sum[:])
		}
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Digest is the hex sha256 of the tree's content, paths and modes.
func (t *Tree) Digest() string {
	if t == nil || t.index == nil {
		return computeDigest(nil)
	}
	return t.digest
}

// Entries returns the entries in path order. The slice must not be changed.
func (t *Tree) Entries() []*Entry {
	if t == nil {
		return nil
	}
	return t.entries
}

// Len is the number of entries, directories included.
func (t *Tree) Len() int { return len(t.Entries()) }

// Size is the total number of bytes of file content.
func (t *Tree) Size() int64 {
	if t == nil {
		return 0
	}
	return t.size
}

// Get returns the entry at p, or nil.
func (t *Tree) Get(p string) *Entry {
	if t == nil {
		return nil
	}
	return t.index[p]
}

// Sub returns the tree rooted at the directory dir, with paths relative to it.
func (t *Tree) Sub(dir string) (*Tree, error) {
	dir = path.Clean(dir)
	if err := checkPath(dir); err != nil {
		return nil, err
	}
	// A symlink anywhere on the way is not followed: the artifact must be a
	// real directory of the tree.
	for p := dir; p != "."; p = path.Dir(p) {
		if e := t.Get(p); e != nil && e.Kind != Dir {
			return nil, fmt.Errorf("%s is a %s, not a directory", p, e.Kind)
		}
	}
	if t.Get(dir) == nil {
		return nil, fmt.Errorf("%s: no such directory", dir)
	}
	prefix := dir + "/"
	i := sort.Search(len(t.entries), func(i int) bool { return t.entries[i].Path >= prefix })
	var sub []*Entry
	for ; i < len(t.entries) && strings.HasPrefix(t.entries[i].Path, prefix); i++ {
		e := *t.entries[i]
		e.Path = strings.TrimPrefix(e.Path, prefix)
		sub = append(sub, &e)
	}
	return New(sub)
}

// Files returns the regular files whose names satisfy match, in path order.
func (t *Tree) Files(match func(p string) bool) []*Entry {
	var out []*Entry
	for _, e := range t.Entries() {
		if e.Kind == File && match(e.Path) {
			out = append(out, e)
		}
	}
	return out
}
