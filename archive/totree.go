package archive

import (
	"fmt"

	"github.com/gitfleet/gitfleet/blobcache"
	"github.com/gitfleet/gitfleet/tree"
)

// ToTree reads a manifest's files back from the cache into an in-memory
// tree, for the daemon as long as it deploys *tree.Tree (until issue 12
// moves contents out of memory). maxBytes bounds what is read (0: 1 GiB,
// tree.Limits' default). Each file's digest is checked as it is read; the
// tree's digest equals m.Digest().
func ToTree(m *Manifest, c *blobcache.Cache, maxBytes int64) (*tree.Tree, error) {
	if maxBytes <= 0 {
		maxBytes = tree.Limits{}.WithDefaults().MaxBytes
	}
	if size := m.Size(); size > maxBytes {
		return nil, fmt.Errorf("artifact of %d bytes, more than the %d an in-memory tree may hold: %w", size, maxBytes, tree.ErrLimit)
	}
	entries := make([]*tree.Entry, 0, len(m.Entries))
	read := map[blobcache.Digest][]byte{} // hard links share their content
	for _, e := range m.Entries {
		te := &tree.Entry{Path: e.Path, Kind: e.Kind.tree(), Perm: e.Mode, Target: e.Target}
		if e.Kind == File {
			data, ok := read[e.SHA256]
			if !ok {
				var err error
				if data, err = c.ReadAll(e.SHA256, e.Size); err != nil {
					return nil, fmt.Errorf("%s: %w", tree.Escape(clip(e.Path)), err)
				}
				read[e.SHA256] = data
			}
			te.Data = data
		}
		entries = append(entries, te)
	}
	return tree.New(entries)
}
