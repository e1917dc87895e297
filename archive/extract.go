package archive

import (
	"context"
	"fmt"
	"io"

	"github.com/gitfleet/gitfleet/blobcache"
)

// Options of an extraction.
type Options struct {
	Limits Limits
	// Hold, when not nil, holds every blob written, so that none is evicted
	// before the caller pins the manifest's blobs.
	Hold *blobcache.Hold
}

// Extract reads the archive stored in the cache as blob src, in format f,
// stores each of its regular files in the cache and returns its manifest.
// The archive's digest was checked when it was stored; reading it checks it
// again. The first unsafe entry or exceeded limit refuses the whole archive
// (the error wraps ErrUnsafe or ErrLimit and names the entry). Files
// stored before the refusal stay in the cache, unreferenced, first in line
// for eviction if o.Hold is dropped.
func Extract(ctx context.Context, c *blobcache.Cache, src blobcache.Digest, f Format, o Options) (*Manifest, error) {
	b := newBuilder(ctx, c, o)
	if err := b.read(src, f); err != nil {
		return nil, err
	}
	return b.finish()
}

// Layer is one layer of an OCI image or artifact, stored in the cache.
type Layer struct {
	Digest blobcache.Digest
	Format Format // Tar for every tar layer, compressed or not
}

// ExtractLayers applies the layers in order, as an image's file system is
// built: a later layer replaces the paths of earlier ones, and its
// whiteout files (.wh.NAME, .wh..wh..opq) remove theirs. The same path
// twice within one layer is refused. Limits count every entry and byte
// read, over all layers.
func ExtractLayers(ctx context.Context, c *blobcache.Cache, layers []Layer, o Options) (*Manifest, error) {
	b := newBuilder(ctx, c, o)
	b.overlay = true
	for i, l := range layers {
		if i > 0 {
			b.nextLayer()
		}
		if err := b.read(l.Digest, l.Format); err != nil {
			if len(layers) > 1 {
				return nil, fmt.Errorf("layer %d (%s): %w", i+1, l.Digest.Short(), err)
			}
			return nil, err
		}
	}
	return b.finish()
}

func (b *builder) finish() (*Manifest, error) {
	m, err := b.manifest()
	if err != nil {
		return nil, err
	}
	if err := b.cache.Sync(); err != nil {
		return nil, err
	}
	return m, nil
}

// read adds the entries of one stored archive.
func (b *builder) read(src blobcache.Digest, f Format) error {
	blob, err := b.cache.Open(src)
	if err != nil {
		return err
	}
	defer blob.Close()
	if f == Zip {
		// Random access does not check the digest: read it through first.
		if _, err := io.Copy(io.Discard, blob); err != nil {
			return err
		}
		return b.readZip(blob, blob.Size())
	}
	if err := b.readTar(blob); err != nil {
		return err
	}
	// The rest of the blob after the tar's end: read it, so the digest is
	// checked over all of it.
	if _, err := io.Copy(io.Discard, blob); err != nil {
		return err
	}
	return nil
}
