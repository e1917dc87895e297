package blobcache

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
)

// Blob is an open stored blob. Read checks the digest when it reaches the
// end: a damaged file returns ErrCorrupt there (instead of io.EOF) and is
// removed from the cache. ReadAt does not check: use it only for formats
// that need random access (zip), on a blob whose digest was checked when it
// was written.
type Blob struct {
	c    *Cache
	d    Digest
	f    *os.File
	size int64
	h    hash.Hash
	read int64
	bad  bool
}

// Open opens blob d for reading and counts it as used.
func (c *Cache) Open(d Digest) (*Blob, error) {
	c.mu.Lock()
	b, ok := c.blobs[d]
	if !ok {
		c.mu.Unlock()
		return nil, fmt.Errorf("%s: %w", d, ErrNotFound)
	}
	f, err := os.Open(c.path(d))
	if errors.Is(err, fs.ErrNotExist) {
		// Removed behind the cache's back: forget it.
		c.removeLocked(b)
		c.mu.Unlock()
		return nil, fmt.Errorf("%s: %w", d, ErrNotFound)
	}
	if err != nil {
		c.mu.Unlock()
		return nil, fmt.Errorf("cache: %w", err)
	}
	c.touchLocked(b)
	size := b.size
	c.mu.Unlock()
	return &Blob{c: c, d: d, f: f, size: size, h: sha256.New()}, nil
}

// Digest is the blob's digest.
func (b *Blob) Digest() Digest { return b.d }

// Size is the blob's size.
func (b *Blob) Size() int64 { return b.size }

// Read reads the blob sequentially, checking its digest at the end.
func (b *Blob) Read(p []byte) (int, error) {
	if b.bad {
		return 0, fmt.Errorf("%s: %w", b.d, ErrCorrupt)
	}
	n, err := b.f.Read(p)
	b.h.Write(p[:n])
	b.read += int64(n)
	if err == io.EOF {
		var sum [32]byte
		b.h.Sum(sum[:0])
		if b.read != b.size || FromSum(sum) != b.d {
			b.bad = true
			b.c.forget(b.d)
			return n, fmt.Errorf("%s: %w", b.d, ErrCorrupt)
		}
	}
	return n, err
}

// ReadAt reads at an offset, without checking the digest.
func (b *Blob) ReadAt(p []byte, off int64) (int, error) { return b.f.ReadAt(p, off) }

// Close closes the blob.
func (b *Blob) Close() error { return b.f.Close() }

// forget removes a damaged blob, pinned or not: it is not the content its
// name promises, and a fetch will bring it again.
func (c *Cache) forget(d Digest) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b, ok := c.blobs[d]; ok {
		c.log.Warn("removed a blob damaged on disk", "blob", d)
		c.removeLocked(b)
	}
}

// ReadAll reads a whole blob of at most max bytes (0: no bound), checking
// its digest.
func (c *Cache) ReadAll(d Digest, max int64) ([]byte, error) {
	b, err := c.Open(d)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	if max > 0 && b.Size() > max {
		return nil, fmt.Errorf("%s: %d bytes, more than %d: %w", d, b.Size(), max, ErrTooLarge)
	}
	var buf bytes.Buffer
	buf.Grow(int(b.Size()))
	if _, err := buf.ReadFrom(b); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
