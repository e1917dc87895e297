package blobcache

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// SetRef records that name points to the stored blob d: how a result
// computed from content (the manifest of an archive) is found again by its
// key after a restart. A ref is not a pin: its blob may be evicted, and
// then the ref reads as missing.
func (c *Cache) SetRef(name string, d Digest) error {
	if _, err := ParseDigest(string(d)); err != nil {
		return fmt.Errorf("ref %s: %w", clip(name), err)
	}
	return writeAtomic(filepath.Join(c.dir, "tmp"), refPath(c.dir, name), []byte(string(d)+"\n"+name+"\n"))
}

// Ref returns the blob name points to, if the ref exists and its blob is
// stored.
func (c *Cache) Ref(name string) (Digest, bool) {
	data, err := os.ReadFile(refPath(c.dir, name))
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			c.log.Warn("cannot read a ref", "ref", name, "err", err)
		}
		return "", false
	}
	first, rest, _ := strings.Cut(string(data), "\n")
	d, err := ParseDigest(first)
	if err != nil || strings.TrimSuffix(rest, "\n") != name || !c.Has(d) {
		return "", false
	}
	return d, true
}

func refPath(dir, name string) string {
	sum := sha256.Sum256([]byte(name))
	return filepath.Join(dir, "refs", hex.EncodeToString(sum[:]))
}
