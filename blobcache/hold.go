package blobcache

import "fmt"

// Hold protects blobs from eviction while this process works with them (a
// download being extracted, a manifest being handed to its caller). It is
// not kept across restarts: what must survive is pinned.
type Hold struct {
	c        *Cache
	ds       map[Digest]struct{}
	released bool
}

// NewHold starts an empty hold. Release it when done.
func (c *Cache) NewHold() *Hold {
	h := &Hold{c: c, ds: map[Digest]struct{}{}}
	c.mu.Lock()
	c.holds[h] = struct{}{}
	c.mu.Unlock()
	return h
}

// Add holds the stored blobs ds. A digest not stored is not held and makes
// the error (ErrNotFound, naming the first one); the others are held all
// the same.
func (h *Hold) Add(ds ...Digest) error {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	var missing error
	for _, d := range ds {
		if _, ok := h.c.blobs[d]; !ok {
			if missing == nil {
				missing = fmt.Errorf("%s: %w", d, ErrNotFound)
			}
			continue
		}
		h.addLocked(d)
	}
	return missing
}

// addLocked holds d (stored). Called with c.mu held.
func (h *Hold) addLocked(d Digest) {
	if h.released {
		return
	}
	if _, ok := h.ds[d]; ok {
		return
	}
	h.ds[d] = struct{}{}
	h.c.protectLocked(d)
}

// Release ends the hold: its blobs count as just used.
func (h *Hold) Release() { h.end(true) }

// Drop ends the hold of a failed attempt: its blobs are the first to go.
func (h *Hold) Drop() { h.end(false) }

func (h *Hold) end(recent bool) {
	if h == nil {
		return
	}
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	if h.released {
		return
	}
	h.released = true
	delete(h.c.holds, h)
	for d := range h.ds {
		h.c.unprotectLocked(d, recent)
	}
	h.ds = nil
}
