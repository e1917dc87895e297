package artifact

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path"

	"github.com/gitfleet/gitfleet/archive"
	"github.com/gitfleet/gitfleet/blobcache"
	"github.com/gitfleet/gitfleet/source"
)

// HTTPConfig is an App's artifact.http.
type HTTPConfig struct {
	// App names the App in errors.
	App string
	// URL is a template with {{.Version}}: where the archive of a version
	// is (https; http only to a loopback host).
	URL string
	// Format is the archive's format; empty: from the URL's extension.
	Format archive.Format
	// Checksums is where a SHA256SUMS file giving the archive's digest is:
	// a template like URL, or a reference relative to the archive's URL
	// ("SHA256SUMS" is the file next to it). Empty: every Release must
	// give its digest.
	Checksums string
	// Signature is where the checksums file's detached signature is (a
	// template or a reference relative to the checksums URL). Empty: the
	// checksums URL with ".asc", then ".sig". Fetched only when the
	// daemon's Verifier asks for a signature.
	Signature string
	// Path is the sub-directory of the archive to deploy; empty: all.
	Path string
}

// HTTPSource is an artifact.http source.
type HTTPSource struct {
	f         *Fetcher
	c         HTTPConfig
	url       *urlTemplate
	checksums *urlTemplate // nil: none
	signature *urlTemplate // nil: default names
}

// HTTP checks an artifact.http configuration (templates, format) and makes
// its source. No network access.
func (f *Fetcher) HTTP(c HTTPConfig) (*HTTPSource, error) {
	s := &HTTPSource{f: f, c: c}
	var err error
	if s.url, err = parseURLTemplate("url", c.URL); err != nil {
		return nil, err
	}
	if c.Format != "" {
		if _, err := archive.ParseFormat(string(c.Format)); err != nil {
			return nil, configErr("format: %v", err)
		}
	}
	if c.Checksums != "" {
		if s.checksums, err = parseURLTemplate("checksums", c.Checksums); err != nil {
			return nil, err
		}
	}
	if c.Signature != "" {
		if c.Checksums == "" {
			return nil, configErr("signature needs checksums")
		}
		if s.signature, err = parseURLTemplate("signature", c.Signature); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *HTTPSource) String() string { return s.c.URL }

// where prefixes errors: "web v1.4.3".
func (s *HTTPSource) where(ref Ref) string { return s.c.App + " " + clip(ref.Version) }

// archive renders the archive's URL and says its format.
func (s *HTTPSource) archive(version string) (*url.URL, archive.Format, error) {
	u, err := s.url.render(version)
	if err != nil {
		return nil, "", err
	}
	if s.c.Format != "" {
		f, _ := archive.ParseFormat(string(s.c.Format))
		return u, f, nil
	}
	f, err := archive.FormatOf(u.Path)
	if err != nil {
		return nil, "", configErr("url: %v", err)
	}
	return u, f, nil
}

// relative renders t for version and resolves it against base.
func relative(t *urlTemplate, version string, base *url.URL) (*url.URL, error) {
	rendered, err := t.renderRaw(version)
	if err != nil {
		return nil, err
	}
	ref, err := url.Parse(rendered)
	if err != nil {
		return nil, configErr("%s: %v", t.t.Name(), err)
	}
	return checkURL(t.t.Name(), base.ResolveReference(ref).String())
}

// Resolve gives the archive's digest: the Release's, or the one the
// checksums file gives for the archive's file name, after checking the
// file's signature when the daemon requires one for the archive's URL.
func (s *HTTPSource) Resolve(ctx context.Context, ref Ref) (blobcache.Digest, error) {
	d, err := s.resolve(ctx, ref)
	if err != nil {
		return "", fmt.Errorf("%s: %w", s.where(ref), err)
	}
	return d, nil
}

func (s *HTTPSource) resolve(ctx context.Context, ref Ref) (blobcache.Digest, error) {
	au, _, err := s.archive(ref.Version)
	if err != nil {
		return "", err
	}
	if ref.Digest != "" {
		d, err := blobcache.ParseDigest(ref.Digest)
		if err != nil {
			return "", configErr("digest: %v", err)
		}
		return d, nil
	}
	if s.checksums == nil {
		return "", configErr("no digest: give digest: sha256:… in the Release, or checksums on the App")
	}
	su, err := relative(s.checksums, ref.Version, au)
	if err != nil {
		return "", err
	}
	ctx, cancel := deadline(ctx, s.f.o.Timeout)
	defer cancel()
	sums, err := s.f.get.small(ctx, su, maxSumsBytes)
	if err != nil {
		return "", err
	}
	if err := s.checkSignature(ctx, ref, au, su, sums); err != nil {
		return "", err
	}
	name, err := url.PathUnescape(path.Base(au.Path))
	if err != nil {
		return "", configErr("url: %v", err)
	}
	d, err := findSum(sums, name)
	if err != nil {
		return "", fmt.Errorf("%s: %w", redact(su), err)
	}
	return d, nil
}

// checkSignature verifies the checksums file's signature when the
// daemon's Verifier requires one for the archive's URL.
func (s *HTTPSource) checkSignature(ctx context.Context, ref Ref, au, su *url.URL, sums []byte) error {
	if s.f.o.Verifier == nil {
		return nil
	}
	v, err := s.f.o.Verifier(au.String())
	if err != nil || v == nil {
		return err
	}
	var candidates []*url.URL
	if s.signature != nil {
		u, err := relative(s.signature, ref.Version, su)
		if err != nil {
			return err
		}
		candidates = append(candidates, u)
	} else {
		for _, ext := range []string{".asc", ".sig"} {
			u := *su
			u.Path += ext
			u.RawPath = ""
			candidates = append(candidates, &u)
		}
	}
	var sig []byte
	var sigURL *url.URL
	for _, u := range candidates {
		sig, err = s.f.get.small(ctx, u, maxSumsBytes)
		if err == nil {
			sigURL = u
			break
		}
		if !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	if sigURL == nil {
		return integrityError{fmt.Errorf("%s: a signature is required, and none was found (%w)", redact(su), err)}
	}
	who, err := v.VerifyFile(redact(su), sums, sig, source.FileNamespace, s.f.o.Now())
	if err != nil {
		return integrityError{err}
	}
	s.f.o.Logger.Debug("checksums signature verified", "app", s.c.App, "version", ref.Version, "url", redact(su), "signer", who)
	return nil
}

// Fetch downloads the archive of digest d into the cache unless it is
// there, checks its digest before anything of it is read, and extracts
// it.
func (s *HTTPSource) Fetch(ctx context.Context, ref Ref, d blobcache.Digest, hold *blobcache.Hold) (*Artifact, error) {
	a, err := s.fetch(ctx, ref, d, hold)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.where(ref), err)
	}
	return a, nil
}

func (s *HTTPSource) fetch(ctx context.Context, ref Ref, d blobcache.Digest, hold *blobcache.Hold) (*Artifact, error) {
	au, format, err := s.archive(ref.Version)
	if err != nil {
		return nil, err
	}
	if _, err := blobcache.ParseDigest(string(d)); err != nil {
		return nil, configErr("digest: %v", err)
	}
	ctx, cancel := deadline(ctx, s.f.o.Timeout)
	defer cancel()
	m, blobs, err := s.f.fetch(ctx, "archive/"+string(d)+"/"+string(format), s.c.Path, hold, func(ctx context.Context, h *blobcache.Hold) (*archive.Manifest, error) {
		cache := s.f.o.Cache
		if err := h.Add(d); err != nil {
			n, err := s.f.get.download(ctx, au, cache, d, s.f.o.MaxDownloadBytes, h)
			if err != nil {
				return nil, err
			}
			s.f.o.Logger.Info("artifact downloaded", "app", s.c.App, "version", ref.Version, "url", redact(au), "digest", d, "bytes", n)
		}
		m, err := archive.Extract(ctx, cache, d, format, archive.Options{Limits: s.f.o.Limits, Hold: h})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", redact(au), err)
		}
		return m, nil
	})
	if err != nil {
		return nil, err
	}
	return &Artifact{Digest: d, Manifest: m, Blobs: blobs}, nil
}

// Validate renders the URLs of the version and checks its digest, format
// and templates, without network access.
func (s *HTTPSource) Validate(ref Ref) (Validation, error) {
	var v Validation
	au, _, err := s.archive(ref.Version)
	if err != nil {
		return v, fmt.Errorf("%s: %w", s.where(ref), err)
	}
	v.NotFetched = append(v.NotFetched, redact(au)+" (archive)")
	switch {
	case ref.Digest != "":
		if _, err := blobcache.ParseDigest(ref.Digest); err != nil {
			return v, fmt.Errorf("%s: digest: %w", s.where(ref), configErr("%v", err))
		}
	case s.checksums == nil:
		return v, fmt.Errorf("%s: %w", s.where(ref), configErr("no digest: give digest: sha256:… in the Release, or checksums on the App"))
	default:
		su, err := relative(s.checksums, ref.Version, au)
		if err != nil {
			return v, fmt.Errorf("%s: %w", s.where(ref), err)
		}
		v.NotFetched = append(v.NotFetched, redact(su)+" (checksums)")
		if s.signature != nil {
			sg, err := relative(s.signature, ref.Version, su)
			if err != nil {
				return v, fmt.Errorf("%s: %w", s.where(ref), err)
			}
			v.NotFetched = append(v.NotFetched, redact(sg)+" (signature, if required)")
		}
	}
	return v, nil
}
