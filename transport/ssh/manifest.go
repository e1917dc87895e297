package ssh

import (
	"container/list"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"sort"
	"strings"
	"sync"

	"github.com/gitfleet/gitfleet/fleet"
	"github.com/gitfleet/gitfleet/tree"
)

// Manifest lists what a release holds, path by path. It is kept on the
// server beside the release (.gitfleet/manifests/<id>.json) so that the
// next release can be built from it: files with the same content and mode
// are hard-linked instead of sent.
type Manifest struct {
	// Format is the manifest's format version (ManifestFormat when
	// written; 0 for a manifest without one, read the same way).
	Format  int             `json:"format"`
	Entries []ManifestEntry `json:"entries"`
}

// ManifestFormat is the format of the manifests this gitfleet writes. A
// manifest of a newer format is not used as the base of a new release:
// the release is sent whole.
const ManifestFormat = 1

// ManifestEntry is one path of a release.
type ManifestEntry struct {
	Path   string      `json:"p"`
	Kind   tree.Kind   `json:"k"`
	Perm   fs.FileMode `json:"m"`
	Sum    string      `json:"s,omitempty"` // hex sha256 of a file
	Target string      `json:"t,omitempty"` // of a symlink
}

// ManifestOf describes a tree.
func ManifestOf(t *tree.Tree) *Manifest {
	m := &Manifest{Entries: make([]ManifestEntry, 0, t.Len())}
	for _, e := range t.Entries() {
		me := ManifestEntry{Path: e.Path, Kind: e.Kind, Perm: e.Perm}
		switch e.Kind {
		case tree.File:
			me.Sum = hex.EncodeToString(e.Sum[:])
		case tree.Symlink:
			me.Target = e.Target
		}
		m.Entries = append(m.Entries, me)
	}
	return m
}

// linksDigest is the hex sha256 of the manifest's symbolic links as the
// stage script lists those of a copy of the release: one "path<TAB>target"
// line each, sorted bytewise.
func (m *Manifest) linksDigest() string {
	var lines []string
	for _, e := range m.Entries {
		if e.Kind == tree.Symlink {
			lines = append(lines, e.Path+"\t"+e.Target+"\n")
		}
	}
	sort.Strings(lines)
	sum := sha256.Sum256([]byte(strings.Join(lines, "")))
	return hex.EncodeToString(sum[:])
}

func (m *Manifest) marshal() []byte {
	cp := *m
	cp.Format = ManifestFormat
	b, _ := json.Marshal(&cp)
	return b
}

func parseManifest(b []byte) (*Manifest, error) {
	m := &Manifest{}
	if err := json.Unmarshal(b, m); err != nil {
		return nil, err
	}
	if m.Format > ManifestFormat {
		return nil, &fleet.NewerFormatError{What: "manifest", Format: m.Format, Known: ManifestFormat}
	}
	return m, nil
}

// delta is what turns a hard-linked copy of a base release into the new
// tree: the top-most base paths to remove (gone, or of another kind or
// mode), and the entries to send (every directory, for its mode; files and
// links that are new or differ).
type delta struct {
	remove []string
	send   []*tree.Entry
	linked int   // files kept from the base
	bytes  int64 // file content sent
}

func computeDelta(base *Manifest, t *tree.Tree) delta {
	var d delta
	old := make(map[string]ManifestEntry, len(base.Entries))
	for _, e := range base.Entries {
		old[e.Path] = e
	}
	// Base paths that must not survive the copy.
	var gone []string
	for _, b := range base.Entries {
		n := t.Get(b.Path)
		switch {
		case n == nil, n.Kind != b.Kind:
			gone = append(gone, b.Path)
		case n.Kind == tree.File && (n.Perm != b.Perm || hex.EncodeToString(n.Sum[:]) != b.Sum):
			gone = append(gone, b.Path) // replaced below; never written through a link
		case n.Kind == tree.Symlink && n.Target != b.Target:
			gone = append(gone, b.Path)
		}
	}
	sort.Strings(gone)
	for _, p := range gone {
		if len(d.remove) > 0 {
			last := d.remove[len(d.remove)-1]
			if strings.HasPrefix(p, last+"/") {
				continue // inside a directory already removed
			}
		}
		d.remove = append(d.remove, p)
	}
	removed := func(p string) bool {
		i := sort.SearchStrings(d.remove, p)
		if i < len(d.remove) && d.remove[i] == p {
			return true
		}
		for dir := p; ; {
			j := strings.LastIndexByte(dir, '/')
			if j < 0 {
				return false
			}
			dir = dir[:j]
			if k := sort.SearchStrings(d.remove, dir); k < len(d.remove) && d.remove[k] == dir {
				return true
			}
		}
	}
	for _, e := range t.Entries() {
		b, inBase := old[e.Path]
		switch {
		case e.Kind == tree.Dir:
			d.send = append(d.send, e)
		case inBase && !removed(e.Path) && b.Kind == e.Kind:
			if e.Kind == tree.File {
				d.linked++
			}
		default:
			d.send = append(d.send, e)
			d.bytes += int64(len(e.Data))
		}
	}
	return d
}

// maxManifests bounds the manifests the transport keeps in memory; the
// least recently used goes first. A manifest not kept is read from the
// server again when it is needed.
const maxManifests = 64

// manifestCache keeps manifests by release ID, at most maxManifests.
type manifestCache struct {
	mu    sync.Mutex
	order *list.List // of *manifestEntry, most recently used first
	byID  map[string]*list.Element
	max   int // 0: maxManifests
}

type manifestEntry struct {
	id string
	m  *Manifest
}

// Load returns the manifest of a release, if kept.
func (c *manifestCache) Load(id string) (*Manifest, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byID[id]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*manifestEntry).m, true
}

// Store keeps the manifest of a release, dropping the least recently used
// beyond the bound.
func (c *manifestCache) Store(id string, m *Manifest) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byID == nil {
		c.byID, c.order = map[string]*list.Element{}, list.New()
	}
	if e, ok := c.byID[id]; ok {
		e.Value.(*manifestEntry).m = m
		c.order.MoveToFront(e)
		return
	}
	c.byID[id] = c.order.PushFront(&manifestEntry{id, m})
	limit := c.max
	if limit <= 0 {
		limit = maxManifests
	}
	for c.order.Len() > limit {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.byID, last.Value.(*manifestEntry).id)
	}
}

// Len is how many manifests are kept.
func (c *manifestCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.order == nil {
		return 0
	}
	return c.order.Len()
}
