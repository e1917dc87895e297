package archive

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/gitfleet/gitfleet/blobcache"
	"github.com/gitfleet/gitfleet/tree"
)

// Kind says what an entry is: "file", "dir" or "symlink" (tree.Kind's
// names).
type Kind string

// The kinds.
const (
	File    Kind = "file"
	Dir     Kind = "dir"
	Symlink Kind = "symlink"
)

func (k Kind) tree() tree.Kind {
	switch k {
	case Dir:
		return tree.Dir
	case Symlink:
		return tree.Symlink
	}
	return tree.File
}

// Entry is one file, directory or symbolic link of an artifact.
type Entry struct {
	// Path is slash-separated, relative to the root, clean, never "." and
	// without "..".
	Path string `json:"path"`
	Kind Kind   `json:"kind"`
	// Mode is the Unix permission word (0o7777), as tree.Entry.Perm.
	// Symbolic links are 0o777.
	Mode fs.FileMode `json:"mode"`
	// Size is a file's size in bytes.
	Size int64 `json:"size,omitempty"`
	// SHA256 is a file's content digest: its blob in the cache.
	SHA256 blobcache.Digest `json:"sha256,omitempty"`
	// Target is a symbolic link's target, as written.
	Target string `json:"target,omitempty"`

	layer int // OCI layer the entry came from
}

// Manifest is the content of an artifact: every entry, parents included,
// sorted by path. File contents live in the blob cache.
type Manifest struct {
	Entries []Entry `json:"entries"`
}

// Size is the total size of the files.
func (m *Manifest) Size() int64 {
	var n int64
	for _, e := range m.Entries {
		n += e.Size
	}
	return n
}

// Files is the number of regular files.
func (m *Manifest) Files() int {
	n := 0
	for _, e := range m.Entries {
		if e.Kind == File {
			n++
		}
	}
	return n
}

// Blobs lists the distinct blobs of the files: what a release of this
// manifest needs in the cache (and what to pin while it is in force).
func (m *Manifest) Blobs() []blobcache.Digest {
	seen := map[blobcache.Digest]bool{}
	var out []blobcache.Digest
	for _, e := range m.Entries {
		if e.Kind == File && !seen[e.SHA256] {
			seen[e.SHA256] = true
			out = append(out, e.SHA256)
		}
	}
	return out
}

// Get returns the entry at p, or nil.
func (m *Manifest) Get(p string) *Entry {
	i := sort.Search(len(m.Entries), func(i int) bool { return m.Entries[i].Path >= p })
	if i < len(m.Entries) && m.Entries[i].Path == p {
		return &m.Entries[i]
	}
	return nil
}

// Digest is the hex SHA-256 content digest of the manifest's files, paths
// and modes: equal to tree.Tree.Digest of the same files, so it names a
// release the same way whatever the files came from.
func (m *Manifest) Digest() string {
	h := sha256.New()
	for _, e := range m.Entries {
		fmt.Fprintf(h, "%s\x00%d\x00%o\x00", e.Path, e.Kind.tree(), e.Mode)
		switch e.Kind {
		case File:
			b, _ := hex.DecodeString(e.SHA256.Hex())
			h.Write(b)
		case Symlink:
			sum := sha256.Sum256([]byte(e.Target))
			h.Write(sum[:])
		}
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Sub is the manifest of the directory dir, with paths relative to it. As
// tree.Tree.Sub, no symbolic link may be on the way: the artifact must be
// a real directory of the archive.
func (m *Manifest) Sub(dir string) (*Manifest, error) {
	dir = path.Clean(dir)
	if dir == "." {
		return m, nil
	}
	if path.IsAbs(dir) || dir == ".." || strings.HasPrefix(dir, "../") {
		return nil, fmt.Errorf("%s: not a sub-directory of the artifact", tree.Escape(clip(dir)))
	}
	for p := dir; p != "."; p = path.Dir(p) {
		if e := m.Get(p); e != nil && e.Kind != Dir {
			return nil, fmt.Errorf("%s is a %s, not a directory", tree.Escape(p), e.Kind)
		}
	}
	if m.Get(dir) == nil {
		return nil, fmt.Errorf("%s: no such directory in the artifact", tree.Escape(clip(dir)))
	}
	prefix := dir + "/"
	i := sort.Search(len(m.Entries), func(i int) bool { return m.Entries[i].Path >= prefix })
	sub := &Manifest{}
	for ; i < len(m.Entries) && strings.HasPrefix(m.Entries[i].Path, prefix); i++ {
		e := m.Entries[i]
		e.Path = strings.TrimPrefix(e.Path, prefix)
		sub.Entries = append(sub.Entries, e)
	}
	return sub, nil
}

// Marshal encodes the manifest as JSON.
func (m *Manifest) Marshal() ([]byte, error) { return json.Marshal(m) }

// Unmarshal decodes a manifest written by Marshal and checks it: entries
// sorted and valid, files with a digest.
func Unmarshal(data []byte) (*Manifest, error) {
	m := &Manifest{}
	if err := json.Unmarshal(data, m); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	for i, e := range m.Entries {
		if i > 0 && m.Entries[i-1].Path >= e.Path {
			return nil, fmt.Errorf("manifest: entries not sorted at %s", tree.Escape(clip(e.Path)))
		}
		if c, err := cleanName(e.Path); err != nil || c != e.Path {
			return nil, fmt.Errorf("manifest: bad path %s", tree.Escape(clip(e.Path)))
		}
		switch e.Kind {
		case File:
			if _, err := blobcache.ParseDigest(string(e.SHA256)); err != nil {
				return nil, fmt.Errorf("manifest: %s: %w", tree.Escape(clip(e.Path)), err)
			}
		case Dir, Symlink:
		default:
			return nil, fmt.Errorf("manifest: %s: unknown kind %q", tree.Escape(clip(e.Path)), clip(string(e.Kind)))
		}
	}
	return m, nil
}
