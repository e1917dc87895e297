package artifact

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/gitfleet/gitfleet/archive"
	"github.com/gitfleet/gitfleet/blobcache"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote"
)

// Media types of manifests.
const (
	mediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
)

// tarLayer reports whether a layer's media type says tar (compressed or
// not): OCI and Docker image layers, and any type ending in .tar,
// .tar+gzip or .tar+zstd (oras push's default is the OCI tar type, even
// for a .tar.gz file; the compression is read from the first bytes).
func tarLayer(mt string) bool {
	switch mt {
	case ocispec.MediaTypeImageLayer, ocispec.MediaTypeImageLayerGzip, ocispec.MediaTypeImageLayerZstd,
		"application/vnd.docker.image.rootfs.diff.tar.gzip", "application/vnd.docker.image.rootfs.diff.tar":
		return true
	}
	for _, suffix := range []string{".tar", ".tar+gzip", ".tar+zstd"} {
		if strings.HasSuffix(mt, suffix) {
			return true
		}
	}
	return false
}

// Fetch brings the manifest of digest d and its layers into the cache
// (each layer checked against its digest as it streams in, before it is
// read), and applies the layers in order.
func (s *OCISource) Fetch(ctx context.Context, ref Ref, d blobcache.Digest, hold *blobcache.Hold) (*Artifact, error) {
	a, err := s.fetch(ctx, ref, d, hold)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.where(ref), err)
	}
	return a, nil
}

func (s *OCISource) fetch(ctx context.Context, ref Ref, d blobcache.Digest, hold *blobcache.Hold) (*Artifact, error) {
	if _, err := blobcache.ParseDigest(string(d)); err != nil {
		return nil, configErr("digest: %v", err)
	}
	ctx, cancel := deadline(ctx, s.f.o.Timeout)
	defer cancel()
	m, blobs, err := s.f.fetch(ctx, "oci/"+string(d), s.c.Path, hold, func(ctx context.Context, h *blobcache.Hold) (*archive.Manifest, error) {
		repo := s.repository()
		layers, err := s.layers(ctx, repo, d)
		if err != nil {
			return nil, err
		}
		var stored []archive.Layer
		for _, l := range layers {
			ld, err := s.layer(ctx, repo, l, h)
			if err != nil {
				return nil, err
			}
			stored = append(stored, archive.Layer{Digest: ld, Format: archive.Tar})
		}
		m, err := archive.ExtractLayers(ctx, s.f.o.Cache, stored, archive.Options{Limits: s.f.o.Limits, Hold: h})
		if err != nil {
			return nil, fmt.Errorf("%s@%s: %w", s.ref, d, err)
		}
		return m, nil
	})
	if err != nil {
		return nil, err
	}
	return &Artifact{Digest: d, Manifest: m, Blobs: blobs}, nil
}

// layers fetches the manifest d, checks its digest, and lists its tar
// layers; an index, a foreign layer or a layer of another type is refused.
func (s *OCISource) layers(ctx context.Context, repo *remote.Repository, d blobcache.Digest) ([]ocispec.Descriptor, error) {
	what := s.ref.String() + "@" + string(d)
	_, rc, err := repo.FetchReference(ctx, string(d))
	if err != nil {
		return nil, s.registryError(what, err)
	}
	data, err := readManifest(rc)
	rc.Close()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if got := blobcache.FromBytes(data); got != d {
		return nil, integrityError{fmt.Errorf("%s: the registry sent a manifest whose digest is %s", what, got)}
	}
	var im imageManifest
	if err := json.Unmarshal(data, &im); err != nil {
		return nil, fmt.Errorf("%s: manifest: %w", what, err)
	}
	switch {
	case im.MediaType == ocispec.MediaTypeImageIndex || im.MediaType == mediaTypeDockerManifestList || len(im.Manifests) > 0:
		return nil, configErr("%s is an image index (one manifest per platform): give the digest of one platform's manifest as the version", what)
	case im.MediaType != "" && im.MediaType != ocispec.MediaTypeImageManifest && im.MediaType != mediaTypeDockerManifest:
		return nil, configErr("%s: manifest of media type %s, not an image manifest", what, clip(im.MediaType))
	case len(im.Layers) == 0:
		return nil, configErr("%s: the manifest has no layers", what)
	}
	for i, l := range im.Layers {
		switch {
		case !tarLayer(l.MediaType):
			return nil, configErr("%s: layer %d has media type %s, not a tar archive", what, i+1, clip(l.MediaType))
		case len(l.URLs) > 0:
			return nil, configErr("%s: layer %d is a foreign layer (its content is elsewhere): not fetched", what, i+1)
		case l.Size < 0 || l.Size > s.f.o.MaxDownloadBytes:
			return nil, fmt.Errorf("%s: layer %d of %d bytes, more than the limit of %d: %w", what, i+1, l.Size, s.f.o.MaxDownloadBytes, blobcache.ErrTooLarge)
		}
		if _, err := blobcache.ParseDigest(l.Digest.String()); err != nil {
			return nil, configErr("%s: layer %d: %v", what, i+1, err)
		}
	}
	return im.Layers, nil
}

// layer brings one layer into the cache unless it is there, and holds it.
func (s *OCISource) layer(ctx context.Context, repo *remote.Repository, l ocispec.Descriptor, h *blobcache.Hold) (blobcache.Digest, error) {
	ld := blobcache.Digest(l.Digest.String())
	if h.Add(ld) == nil {
		return ld, nil
	}
	what := s.ref.String() + "@" + string(ld)
	rc, err := repo.Fetch(ctx, l)
	if err != nil {
		return "", s.registryError(what, err)
	}
	defer rc.Close()
	_, n, err := s.f.o.Cache.Put(rc, blobcache.PutOptions{Want: ld, MaxBytes: l.Size, Hold: h})
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return "", fmt.Errorf("%s: download not complete before the deadline (%d bytes in): %w", what, n, ctx.Err())
	case errorsIsMismatch(err):
		return "", integrityError{fmt.Errorf("%s: content does not match its digest: %w", what, err)}
	default:
		return "", fmt.Errorf("%s: %w", what, err)
	}
	if n != l.Size {
		return "", integrityError{fmt.Errorf("%s: %d bytes, the manifest says %d", what, n, l.Size)}
	}
	s.f.o.Logger.Info("artifact layer downloaded", "app", s.c.App, "repository", s.ref.String(), "digest", ld, "bytes", n)
	return ld, nil
}
