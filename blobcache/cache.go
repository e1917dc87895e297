package blobcache

import (
	"container/list"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// DefaultMaxBytes is the size bound of a cache whose Options leave it at 0.
const DefaultMaxBytes = 20 << 30

// Options tune a cache.
type Options struct {
	// MaxBytes bounds the total size of the blobs (default 20 GiB).
	// Pinned and held blobs may keep the cache above it.
	MaxBytes int64
	// Now gives the time written as a blob's last use (default time.Now).
	Now func() time.Time
	// Logger receives evictions and warnings (default: discarded).
	Logger *slog.Logger
}

// Errors of the cache.
var (
	ErrNotFound = errors.New("blob not in cache")
	ErrMismatch = errors.New("digest mismatch")
	ErrTooLarge = errors.New("blob too large")
	ErrCorrupt  = errors.New("blob damaged on disk")
)

// Cache is a content-addressed blob store in a directory. It is safe for
// concurrent use by the goroutines of one process; two processes must not
// share a directory (the daemon's state-directory lock sees to that).
type Cache struct {
	dir string
	max int64
	now func() time.Time
	log *slog.Logger

	pinMu sync.Mutex // serialises Pin: disk and memory in the same order
	mu    sync.Mutex
	blobs map[Digest]*blob
	lru   *list.List // of *blob not pinned or held; front = most recent
	total int64
	pins  map[string]map[Digest]struct{} // pin sets by name
	holds map[*Hold]struct{}
}

// blob is the index entry of one stored blob.
type blob struct {
	d    Digest
	size int64
	refs int           // pin sets and holds that protect it
	elem *list.Element // in lru when refs == 0
}

// Open opens (creating it when missing) the cache in dir: it removes the
// temporary files a crash left, rebuilds the index from the blobs found,
// the most recently used by modification time first, and reads the pins.
func Open(dir string, o Options) (*Cache, error) {
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Cache{
		dir: dir, max: o.MaxBytes, now: o.Now, log: o.Logger,
		blobs: map[Digest]*blob{}, lru: list.New(),
		pins: map[string]map[Digest]struct{}{}, holds: map[*Hold]struct{}{},
	}
	for _, sub := range []string{"blobs/sha256", "tmp", "pins", "refs"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o750); err != nil {
			return nil, fmt.Errorf("cache %s: %w", dir, err)
		}
	}
	if err := c.cleanTmp(); err != nil {
		return nil, err
	}
	if err := c.scan(); err != nil {
		return nil, err
	}
	if err := c.loadPins(); err != nil {
		return nil, err
	}
	return c, nil
}

// Dir is the cache's directory.
func (c *Cache) Dir() string { return c.dir }

// cleanTmp removes what Puts interrupted by a crash left behind.
func (c *Cache) cleanTmp() error {
	tmp := filepath.Join(c.dir, "tmp")
	ents, err := os.ReadDir(tmp)
	if err != nil {
		return fmt.Errorf("cache %s: %w", c.dir, err)
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(tmp, e.Name())); err != nil {
			return fmt.Errorf("cache %s: remove leftover %s: %w", c.dir, e.Name(), err)
		}
	}
	if len(ents) > 0 {
		c.log.Info("removed temporary files left by an interrupted write", "cache", c.dir, "files", len(ents))
	}
	return nil
}

// scan rebuilds the index from blobs/sha256/xx/<hex>. Files whose names are
// not digests of their fan-out directory are left alone and not counted.
func (c *Cache) scan() error {
	type found struct {
		b   *blob
		mod time.Time
	}
	var all []found
	root := filepath.Join(c.dir, "blobs", "sha256")
	fans, err := os.ReadDir(root)
	if err != nil {
		return fmt.Errorf("cache %s: %w", c.dir, err)
	}
	for _, fan := range fans {
		if !fan.IsDir() || len(fan.Name()) != 2 {
			continue
		}
		ents, err := os.ReadDir(filepath.Join(root, fan.Name()))
		if err != nil {
			return fmt.Errorf("cache %s: %w", c.dir, err)
		}
		for _, e := range ents {
			d, err := ParseDigest(digestPrefix + e.Name())
			if err != nil || d.Hex()[:2] != fan.Name() || !e.Type().IsRegular() {
				continue
			}
			info, err := e.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return fmt.Errorf("cache %s: %w", c.dir, err)
			}
			all = append(all, found{&blob{d: d, size: info.Size()}, info.ModTime()})
		}
	}
	// Oldest first, each pushed to the front: the newest ends in front.
	sort.Slice(all, func(i, j int) bool {
		if !all[i].mod.Equal(all[j].mod) {
			return all[i].mod.Before(all[j].mod)
		}
		return all[i].b.d < all[j].b.d
	})
	for _, f := range all {
		c.blobs[f.b.d] = f.b
		f.b.elem = c.lru.PushFront(f.b)
		c.total += f.b.size
	}
	return nil
}

// path is where blob d is stored.
func (c *Cache) path(d Digest) string {
	h := d.Hex()
	return filepath.Join(c.dir, "blobs", "sha256", h[:2], h)
}

// Has reports whether d is stored. It does not count as a use.
func (c *Cache) Has(d Digest) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.blobs[d]
	return ok
}

// Size is the size of blob d, or ErrNotFound.
func (c *Cache) Size(d Digest) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.blobs[d]
	if !ok {
		return 0, fmt.Errorf("%s: %w", d, ErrNotFound)
	}
	return b.size, nil
}

// Stats is a summary of the cache.
type Stats struct {
	Blobs       int
	Bytes       int64
	MaxBytes    int64
	Protected   int   // blobs pinned or held
	PinnedBytes int64 // bytes of those blobs
}

// Stats returns the cache's counts.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := Stats{Blobs: len(c.blobs), Bytes: c.total, MaxBytes: c.max}
	for _, b := range c.blobs {
		if b.refs > 0 {
			s.Protected++
			s.PinnedBytes += b.size
		}
	}
	return s
}

// touch moves b to the front of the recency order and records the use in
// the file's modification time, so that the order survives a restart.
// Called with c.mu held.
func (c *Cache) touchLocked(b *blob) {
	if b.elem != nil {
		c.lru.MoveToFront(b.elem)
	}
	now := c.now()
	if err := os.Chtimes(c.path(b.d), now, now); err != nil && !errors.Is(err, fs.ErrNotExist) {
		c.log.Warn("cannot record the use of a blob", "blob", b.d, "err", err)
	}
}

// evictLocked removes least recently used blobs until the cache fits, never
// keep, nor a pinned or held blob (those are not in the lru list).
func (c *Cache) evictLocked(keep Digest) {
	for e := c.lru.Back(); e != nil && c.total > c.max; {
		prev := e.Prev()
		b := e.Value.(*blob)
		if b.d != keep {
			c.removeLocked(b)
			c.log.Debug("evicted blob", "blob", b.d, "size", b.size)
		}
		e = prev
	}
	if c.total > c.max {
		c.log.Warn("cache above its bound: the rest is pinned, held or just written", "cache", c.dir, "bytes", c.total, "maxBytes", c.max)
	}
}

// removeLocked drops b from the index and the disk.
func (c *Cache) removeLocked(b *blob) {
	if err := os.Remove(c.path(b.d)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		c.log.Warn("cannot remove a blob", "blob", b.d, "err", err)
		return
	}
	if b.elem != nil {
		c.lru.Remove(b.elem)
		b.elem = nil
	}
	delete(c.blobs, b.d)
	c.total -= b.size
}

// protect and unprotect count the pin sets and holds covering a stored
// blob; a protected blob leaves the lru list. A blob unprotected by a pin
// set goes to the back (evicted first: no release needs it); one released
// by a hold goes to the front (just used).
func (c *Cache) protectLocked(d Digest) {
	b, ok := c.blobs[d]
	if !ok {
		return
	}
	if b.refs == 0 && b.elem != nil {
		c.lru.Remove(b.elem)
		b.elem = nil
	}
	b.refs++
}

func (c *Cache) unprotectLocked(d Digest, front bool) {
	b, ok := c.blobs[d]
	if !ok || b.refs == 0 {
		return
	}
	b.refs--
	if b.refs == 0 {
		if front {
			b.elem = c.lru.PushFront(b)
		} else {
			b.elem = c.lru.PushBack(b)
		}
	}
}
