package blobcache

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// PutOptions say what a Put must check and keep.
type PutOptions struct {
	// Want is the digest the content must have; empty accepts any.
	Want Digest
	// MaxBytes bounds the content; 0 means no bound.
	MaxBytes int64
	// Hold, when not nil, protects the blob from eviction until released.
	Hold *Hold
	// NoSync skips the fsync of the file and its directory: for many small
	// blobs written at once, followed by one Sync. A blob lost or damaged
	// by a crash before that is detected when it is read, and removed.
	NoSync bool
}

// Put streams r into the cache and returns the content's digest and size.
// Nothing is stored when the content is larger than MaxBytes or its digest
// is not Want: the error wraps ErrTooLarge or ErrMismatch, and r may not
// have been read to its end.
func (c *Cache) Put(r io.Reader, o PutOptions) (Digest, int64, error) {
	f, err := os.CreateTemp(filepath.Join(c.dir, "tmp"), "put-*")
	if err != nil {
		return "", 0, fmt.Errorf("cache: %w", err)
	}
	tmp := f.Name()
	published := false
	defer func() {
		if !published {
			f.Close()
			os.Remove(tmp)
		}
	}()
	h := sha256.New()
	src := r
	if o.MaxBytes > 0 {
		src = io.LimitReader(r, o.MaxBytes+1)
	}
	n, err := io.Copy(io.MultiWriter(f, h), src)
	if err != nil {
		return "", n, err
	}
	if o.MaxBytes > 0 && n > o.MaxBytes {
		return "", n, fmt.Errorf("more than %d bytes: %w", o.MaxBytes, ErrTooLarge)
	}
	var sum [32]byte
	h.Sum(sum[:0])
	d := FromSum(sum)
	if o.Want != "" && d != o.Want {
		return "", n, fmt.Errorf("got %s, want %s: %w", d, o.Want, ErrMismatch)
	}
	if !o.NoSync {
		if err := f.Sync(); err != nil {
			return "", n, fmt.Errorf("cache: %w", err)
		}
	}
	if err := f.Close(); err != nil {
		return "", n, fmt.Errorf("cache: %w", err)
	}
	if err := c.publish(tmp, d, n, o); err != nil {
		return "", n, err
	}
	published = true
	return d, n, nil
}

// publish renames the temporary file to the blob's place and indexes it,
// under the lock, so that an eviction never removes a file being renamed.
func (c *Cache) publish(tmp string, d Digest, n int64, o PutOptions) error {
	final := c.path(d)
	dir := filepath.Dir(final)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	if b, ok := c.blobs[d]; ok {
		// The same content is there already: keep it, drop the copy.
		os.Remove(tmp)
		if o.Hold != nil {
			o.Hold.addLocked(d)
		}
		c.touchLocked(b)
		return nil
	}
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	if !o.NoSync {
		if err := syncDir(dir); err != nil {
			return fmt.Errorf("cache: %w", err)
		}
	}
	b := &blob{d: d, size: n}
	c.blobs[d] = b
	c.total += n
	for _, set := range c.pins {
		if _, ok := set[d]; ok {
			b.refs++
		}
	}
	for h := range c.holds {
		if _, ok := h.ds[d]; ok {
			b.refs++
		}
	}
	if b.refs == 0 {
		b.elem = c.lru.PushFront(b)
	}
	c.touchLocked(b)
	if o.Hold != nil {
		o.Hold.addLocked(d)
	}
	c.evictLocked(d)
	return nil
}

// Sync flushes every blob written with NoSync to disk (syncfs of the
// cache's file system).
func (c *Cache) Sync() error {
	f, err := os.Open(filepath.Join(c.dir, "blobs"))
	if err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("cache: syncfs: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil && !errors.Is(err, unix.EINVAL) {
		return err
	}
	return nil
}
