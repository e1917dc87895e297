package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/gitfleet/gitfleet/blobcache"
	"github.com/gitfleet/gitfleet/tree"
)

// builder gathers the entries of one archive, or of the layers of an image
// (overlay), checking each as it comes and the whole at the end.
type builder struct {
	ctx   context.Context
	lim   Limits
	cache *blobcache.Cache
	hold  *blobcache.Hold

	entries map[string]*Entry
	seen    map[string]bool // paths of the current layer
	count   int
	bytes   int64

	overlay bool
	layer   int
	gone    map[string]int // path (and below) removed from layers before the value
	opaque  map[string]int // below path removed from layers before the value
}

func newBuilder(ctx context.Context, c *blobcache.Cache, o Options) *builder {
	return &builder{
		ctx: ctx, lim: o.Limits.WithDefaults(), cache: c, hold: o.Hold,
		entries: map[string]*Entry{}, seen: map[string]bool{},
		gone: map[string]int{}, opaque: map[string]int{},
	}
}

// nextLayer starts the next layer of an overlay.
func (b *builder) nextLayer() {
	b.layer++
	b.seen = map[string]bool{}
}

// admit counts an entry against the limits and cleans its name. An empty
// path is the root: nothing to add.
func (b *builder) admit(raw string) (string, error) {
	if err := b.ctx.Err(); err != nil {
		return "", err
	}
	b.count++
	if b.count > b.lim.MaxEntries {
		return "", overLimit(raw, "more than %d entries in the archive", b.lim.MaxEntries)
	}
	return cleanName(raw)
}

// add records an entry. The same path twice in one archive (or layer) is
// refused; in an overlay a later layer replaces what earlier ones had.
func (b *builder) add(raw string, e Entry) error {
	if b.seen[e.Path] {
		return unsafeEntry(raw, "duplicate entry: the path %s appears twice", tree.Escape(clip(e.Path)))
	}
	b.seen[e.Path] = true
	e.layer = b.layer
	if b.overlay && e.Kind != Dir {
		// A file or link hides whatever lower layers had below it.
		b.opaque[e.Path] = b.layer
	}
	b.entries[e.Path] = &e
	return nil
}

// file streams a regular file's content into the cache.
func (b *builder) file(raw string, mode int64, size int64, r io.Reader) error {
	p, err := b.admit(raw)
	if err != nil {
		return err
	}
	if p == "" {
		return unsafeEntry(raw, "a file as the root of the archive")
	}
	if b.overlay && b.whiteout(p) {
		return nil
	}
	if size > b.lim.MaxFileBytes {
		return overLimit(raw, "file of %d bytes, more than the limit of %d", size, b.lim.MaxFileBytes)
	}
	if b.bytes+size > b.lim.MaxBytes {
		return overLimit(raw, "the files reach more than %d bytes in all", b.lim.MaxBytes)
	}
	d, n, err := b.cache.Put(ctxReader{b.ctx, r}, blobcache.PutOptions{MaxBytes: size, Hold: b.hold, NoSync: true})
	switch {
	case errors.Is(err, blobcache.ErrTooLarge):
		return overLimit(raw, "more content than the %d bytes the entry declares", size)
	case err != nil:
		return fmt.Errorf("%s: %w", tree.Escape(clip(raw)), err)
	case n != size:
		return unsafeEntry(raw, "%d bytes of content, %d declared", n, size)
	}
	b.bytes += n
	return b.add(raw, Entry{Path: p, Kind: File, Mode: fs.FileMode(mode) & 0o7777, Size: n, SHA256: d})
}

// dir records a directory; the root's own entry is skipped.
func (b *builder) dir(raw string, mode int64) error {
	p, err := b.admit(raw)
	if err != nil || p == "" {
		return err
	}
	if b.overlay && b.whiteout(p) {
		return nil
	}
	return b.add(raw, Entry{Path: p, Kind: Dir, Mode: fs.FileMode(mode) & 0o7777})
}

// symlink records a symbolic link, refusing a target that leads out.
func (b *builder) symlink(raw, target string) error {
	p, err := b.admit(raw)
	if err != nil {
		return err
	}
	if p == "" {
		return unsafeEntry(raw, "a symbolic link as the root of the archive")
	}
	if b.overlay && b.whiteout(p) {
		return nil
	}
	if err := checkTarget(raw, p, target); err != nil {
		return err
	}
	return b.add(raw, Entry{Path: p, Kind: Symlink, Mode: 0o777, Target: target})
}

// hardlink records a hard link as a file with its target's content. The
// target must be a regular file met earlier in the archive.
func (b *builder) hardlink(raw, target string) error {
	p, err := b.admit(raw)
	if err != nil {
		return err
	}
	if p == "" {
		return unsafeEntry(raw, "a hard link as the root of the archive")
	}
	t, err := cleanName(target)
	if err != nil {
		return unsafeEntry(raw, "hard link to %s: %s", tree.Escape(clip(target)), err.(*EntryError).Reason)
	}
	e := b.entries[t]
	if e == nil || e.Kind != File {
		return unsafeEntry(raw, "hard link to %s, which is not an earlier regular file of the archive", tree.Escape(clip(target)))
	}
	if b.bytes+e.Size > b.lim.MaxBytes {
		return overLimit(raw, "the files reach more than %d bytes in all", b.lim.MaxBytes)
	}
	b.bytes += e.Size
	return b.add(raw, Entry{Path: p, Kind: File, Mode: e.Mode, Size: e.Size, SHA256: e.SHA256})
}

// whiteout handles the OCI whiteout files of a layer (.wh.NAME removes
// NAME of lower layers, .wh..wh..opq everything below its directory). It
// reports whether p was one.
func (b *builder) whiteout(p string) bool {
	dir, base := path.Split(p)
	dir = strings.TrimSuffix(dir, "/")
	switch {
	case base == ".wh..wh..opq":
		b.opaque[dir] = b.layer
	case strings.HasPrefix(base, ".wh."):
		b.gone[path.Join(dir, strings.TrimPrefix(base, ".wh."))] = b.layer
	default:
		return false
	}
	return true
}

// removed reports whether a whiteout of a later layer hides e: its own
// path whited out, or one of its directories whited out or made opaque.
func (b *builder) removed(e *Entry) bool {
	if l, ok := b.gone[e.Path]; ok && l > e.layer {
		return true
	}
	for p := e.Path; p != ""; {
		p = path.Dir(p)
		if p == "." {
			p = ""
		}
		if l, ok := b.gone[p]; ok && p != "" && l > e.layer {
			return true
		}
		if l, ok := b.opaque[p]; ok && l > e.layer {
			return true
		}
	}
	return false
}

// manifest finishes: it drops what whiteouts removed, adds missing parent
// directories (0755, as the tree package does), and checks the whole as a
// tree (parents that are not directories, links that lead out through
// other links, setuid files, names) before anything is used.
func (b *builder) manifest() (*Manifest, error) {
	var tes []*tree.Entry
	byPath := make(map[string]*Entry, len(b.entries))
	for p, e := range b.entries {
		if b.overlay && b.removed(e) {
			continue
		}
		byPath[p] = e
		tes = append(tes, &tree.Entry{Path: e.Path, Kind: e.Kind.tree(), Perm: e.Mode, Target: e.Target})
	}
	t, err := tree.New(tes)
	if err != nil {
		return nil, treeError{err}
	}
	if errs := t.Check(); len(errs) > 0 {
		if len(errs) > 1 {
			return nil, treeError{fmt.Errorf("%w (and %d more problems)", errs[0], len(errs)-1)}
		}
		return nil, treeError{errs[0]}
	}
	m := &Manifest{Entries: make([]Entry, 0, t.Len())}
	for _, te := range t.Entries() {
		if e, ok := byPath[te.Path]; ok {
			m.Entries = append(m.Entries, *e)
			continue
		}
		m.Entries = append(m.Entries, Entry{Path: te.Path, Kind: Dir, Mode: te.Perm})
	}
	sort.Slice(m.Entries, func(i, j int) bool { return m.Entries[i].Path < m.Entries[j].Path })
	for i := range m.Entries {
		m.Entries[i].layer = 0
	}
	return m, nil
}

// ctxReader stops a long copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// treeError is a problem the tree package found in the archive's entries
// as a whole: its message as is, wrapping ErrUnsafe.
type treeError struct{ err error }

func (e treeError) Error() string   { return e.err.Error() }
func (e treeError) Unwrap() []error { return []error{e.err, ErrUnsafe} }
