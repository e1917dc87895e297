package blobcache

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// pinFile is the JSON of one pin set on disk.
type pinFile struct {
	Name    string   `json:"name"`
	Digests []Digest `json:"digests"`
}

// Pin makes the set named name hold exactly ds, kept on disk: those blobs
// (stored now or later) are never evicted while the set names them. An
// empty ds removes the set. Typically one set per release in force, named
// after it, replaced whenever the releases in force change.
func (c *Cache) Pin(name string, ds []Digest) error {
	if name == "" {
		return errors.New("cache: a pin set needs a name")
	}
	set := make(map[Digest]struct{}, len(ds))
	for _, d := range ds {
		if _, err := ParseDigest(string(d)); err != nil {
			return fmt.Errorf("pin %s: %w", clip(name), err)
		}
		set[d] = struct{}{}
	}
	c.pinMu.Lock()
	defer c.pinMu.Unlock()
	if err := c.savePins(name, set); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.pins[name]
	// Protect the new set before unprotecting the old one, so that a blob
	// in both never passes through the lru list.
	for d := range set {
		if _, ok := old[d]; !ok {
			c.protectLocked(d)
		}
	}
	for d := range old {
		if _, ok := set[d]; !ok {
			c.unprotectLocked(d, false)
		}
	}
	if len(set) == 0 {
		delete(c.pins, name)
	} else {
		c.pins[name] = set
	}
	return nil
}

// PinSets lists the names of the pin sets, sorted: what a controller
// compares with the releases in force to drop the sets of releases gone.
func (c *Cache) PinSets() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.pins))
	for n := range c.pins {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Pinned reports whether d is in a pin set or a hold.
func (c *Cache) Pinned(d Digest) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b, ok := c.blobs[d]; ok {
		return b.refs > 0
	}
	return false
}

func pinPath(dir, name string) string {
	sum := sha256.Sum256([]byte(name))
	return filepath.Join(dir, "pins", hex.EncodeToString(sum[:16])+".json")
}

// savePins writes a pin set (temporary file, sync, rename) or removes it.
func (c *Cache) savePins(name string, set map[Digest]struct{}) error {
	p := pinPath(c.dir, name)
	if len(set) == 0 {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("pin %s: %w", clip(name), err)
		}
		return nil
	}
	pf := pinFile{Name: name, Digests: make([]Digest, 0, len(set))}
	for d := range set {
		pf.Digests = append(pf.Digests, d)
	}
	sort.Slice(pf.Digests, func(i, j int) bool { return pf.Digests[i] < pf.Digests[j] })
	data, err := json.Marshal(pf)
	if err != nil {
		return err
	}
	if err := writeAtomic(filepath.Join(c.dir, "tmp"), p, data); err != nil {
		return fmt.Errorf("pin %s: %w", clip(name), err)
	}
	return nil
}

// loadPins reads the pin sets back at Open. A file that cannot be read is
// an error: dropping a pin silently could evict a release in force.
func (c *Cache) loadPins() error {
	dir := filepath.Join(c.dir, "pins")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("cache %s: %w", c.dir, err)
	}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return fmt.Errorf("cache %s: %w", c.dir, err)
		}
		var pf pinFile
		if err := json.Unmarshal(data, &pf); err != nil || pf.Name == "" {
			return fmt.Errorf("cache %s: pin file %s is unreadable (remove it to drop the pins): %v", c.dir, e.Name(), err)
		}
		set := make(map[Digest]struct{}, len(pf.Digests))
		for _, d := range pf.Digests {
			if _, err := ParseDigest(string(d)); err != nil {
				return fmt.Errorf("cache %s: pin file %s: %w", c.dir, e.Name(), err)
			}
			set[d] = struct{}{}
			c.protectLocked(d)
		}
		c.pins[pf.Name] = set
	}
	return nil
}

// writeAtomic writes data to path through a synced temporary file in tmp.
func writeAtomic(tmp, path string, data []byte) error {
	f, err := os.CreateTemp(tmp, "write-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}
