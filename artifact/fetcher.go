package artifact

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/gitfleet/gitfleet/archive"
	"github.com/gitfleet/gitfleet/blobcache"
	"github.com/gitfleet/gitfleet/source"
)

// Defaults of Options.
const (
	DefaultTimeout          = 10 * time.Minute
	DefaultMaxDownloadBytes = 4 << 30
)

// Options are the daemon-wide settings of artifact fetching: one Fetcher
// serves every App, so that the cache and the in-flight table are shared.
type Options struct {
	// Cache is the blob cache (stateDir/cache). Required.
	Cache *blobcache.Cache
	// Limits bound what an archive may expand to.
	Limits archive.Limits
	// Timeout bounds one Resolve or Fetch, downloads included (default
	// 10m).
	Timeout time.Duration
	// MaxDownloadBytes bounds each archive or layer downloaded (default 4
	// GiB).
	MaxDownloadBytes int64
	// TLS configures HTTPS (root CAs); nil means the system's.
	TLS *tls.Config
	// Auth gives the credentials of a URL (https://… for archives,
	// oci://registry/repository for registries), chosen by the daemon by
	// the longest URL prefix, like those of Git; nil means none.
	Auth func(url string) (*source.GitAuth, error)
	// Verifier says whose signature an archive's checksums file must carry,
	// by the archive's URL; nil (or a nil result) means no signature is
	// required.
	Verifier func(url string) (*source.Verifier, error)
	// DockerConfig is a Docker config.json whose auths (and credential
	// helpers) give registry credentials before Auth is asked.
	DockerConfig string
	// PlainHTTP lists registries (host:port) spoken to over plain HTTP.
	// Only loopback registries may be listed.
	PlainHTTP []string
	// Now is the time signatures are checked at (default time.Now).
	Now func() time.Time
	// Logger receives one line per download (default: discarded).
	Logger *slog.Logger
}

// Fetcher fetches artifacts into the cache, each digest once.
type Fetcher struct {
	o      Options
	get    *getter
	plain  map[string]bool
	docker dockerCreds

	mu       sync.Mutex
	inflight map[string]*call
}

// New checks the options and makes a Fetcher. It reads no secret and
// touches no network.
func New(o Options) (*Fetcher, error) {
	if o.Cache == nil {
		return nil, errors.New("artifact: a cache is required")
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxDownloadBytes <= 0 {
		o.MaxDownloadBytes = DefaultMaxDownloadBytes
	}
	o.Limits = o.Limits.WithDefaults()
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	f := &Fetcher{o: o, plain: map[string]bool{}, inflight: map[string]*call{}}
	for _, r := range o.PlainHTTP {
		if !isLoopback(r) {
			return nil, configErr("plain HTTP to registry %s: only a loopback registry may be reached without TLS", clip(r))
		}
		f.plain[strings.ToLower(r)] = true
	}
	f.get = &getter{client: newHTTPClient(o.TLS), auth: o.Auth}
	if o.DockerConfig != "" {
		d, err := newDockerCreds(o.DockerConfig)
		if err != nil {
			return nil, err
		}
		f.docker = d
	}
	return f, nil
}

// Ref is what a Release says of the version it pins.
type Ref struct {
	// Version is the Release's version: a tag (or for OCI also a digest).
	Version string
	// Digest is the Release's digest ("sha256:…"), if it gives one: then
	// Resolve returns it without asking the store.
	Digest string
}

// Artifact is a fetched version.
type Artifact struct {
	// Digest is what was fetched: the archive's digest (http) or the
	// image manifest's (oci).
	Digest blobcache.Digest
	// Manifest lists the files to deploy (the App's path, if it has one).
	Manifest *archive.Manifest
	// Blobs are the blobs a release of it needs in the cache: its files
	// and its manifest. Pin them while the release is in force.
	Blobs []blobcache.Digest
}

// Source is an App's artifact store.
type Source interface {
	// Resolve gives the digest of a version.
	Resolve(ctx context.Context, ref Ref) (blobcache.Digest, error)
	// Fetch brings the content of digest d into the cache and returns it.
	// With hold not nil, its blobs are held there until the caller pins or
	// releases them.
	Fetch(ctx context.Context, ref Ref, d blobcache.Digest, hold *blobcache.Hold) (*Artifact, error)
	// Validate checks the version's references without network access.
	Validate(ref Ref) (Validation, error)
	// String names the source for logs and plans.
	String() string
}

// Validation is what Validate checked and what it left for a fetch.
type Validation struct {
	// NotFetched lists what a plan or a run would fetch, e.g.
	// "https://ci.example/web/v1.4.3/web.tar.gz (archive)".
	NotFetched []string
}

// call is one fetch in flight, shared by every caller of the same key.
type call struct {
	done    chan struct{}
	m       *archive.Manifest
	md      blobcache.Digest // the manifest's own blob
	err     error
	work    *blobcache.Hold
	waiters int
}

// fetch returns the manifest stored under key, or runs work once for all
// concurrent callers to make it. Blobs are added to hold when it is not
// nil; the work's own hold is released when the last caller has them.
func (f *Fetcher) fetch(ctx context.Context, key, sub string, hold *blobcache.Hold, work func(ctx context.Context, h *blobcache.Hold) (*archive.Manifest, error)) (*archive.Manifest, []blobcache.Digest, error) {
	key = fmt.Sprintf("manifest/v1/%s/%d-%d-%d", key, f.o.Limits.MaxEntries, f.o.Limits.MaxBytes, f.o.Limits.MaxFileBytes)
	if m, md, ok := f.stored(key, hold); ok {
		return subOf(m, md, sub)
	}
	f.mu.Lock()
	c, running := f.inflight[key]
	if !running {
		c = &call{done: make(chan struct{}), work: f.o.Cache.NewHold()}
		f.inflight[key] = c
	}
	c.waiters++
	f.mu.Unlock()
	if !running {
		c.m, c.md, c.err = f.run(ctx, key, c.work, work)
		close(c.done)
	}
	defer f.leave(key, c)
	select {
	case <-c.done:
	default:
		select {
		case <-c.done:
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("waiting for the same fetch by another caller: %w", ctx.Err())
		}
	}
	if c.err != nil {
		return nil, nil, c.err
	}
	if hold != nil {
		if err := hold.Add(append(c.m.Blobs(), c.md)...); err != nil {
			return nil, nil, err
		}
	}
	return subOf(c.m, c.md, sub)
}

func (f *Fetcher) leave(key string, c *call) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c.waiters--
	if c.waiters > 0 {
		return
	}
	if f.inflight[key] == c {
		delete(f.inflight, key)
	}
	if c.err != nil {
		c.work.Drop()
	} else {
		c.work.Release()
	}
}

// run does the work and stores its manifest as a blob, named by key.
func (f *Fetcher) run(ctx context.Context, key string, h *blobcache.Hold, work func(context.Context, *blobcache.Hold) (*archive.Manifest, error)) (*archive.Manifest, blobcache.Digest, error) {
	m, err := work(ctx, h)
	if err != nil {
		return nil, "", err
	}
	data, err := m.Marshal()
	if err != nil {
		return nil, "", err
	}
	md, _, err := f.o.Cache.Put(bytes.NewReader(data), blobcache.PutOptions{Hold: h})
	if err != nil {
		return nil, "", err
	}
	if err := f.o.Cache.SetRef(key, md); err != nil {
		return nil, "", err
	}
	return m, md, nil
}

// stored finds a manifest made before (by this process or an earlier
// one) whose blobs are all still in the cache, and holds them.
func (f *Fetcher) stored(key string, hold *blobcache.Hold) (*archive.Manifest, blobcache.Digest, bool) {
	md, ok := f.o.Cache.Ref(key)
	if !ok {
		return nil, "", false
	}
	data, err := f.o.Cache.ReadAll(md, 256<<20)
	if err != nil {
		return nil, "", false
	}
	m, err := archive.Unmarshal(data)
	if err != nil {
		f.o.Logger.Warn("stored manifest unreadable: fetching again", "key", key, "err", err)
		return nil, "", false
	}
	h := hold
	if h == nil {
		h = f.o.Cache.NewHold()
		defer h.Release()
	}
	if err := h.Add(append(m.Blobs(), md)...); err != nil {
		return nil, "", false // a file was evicted: make it again
	}
	return m, md, true
}

func subOf(m *archive.Manifest, md blobcache.Digest, sub string) (*archive.Manifest, []blobcache.Digest, error) {
	if sub != "" {
		s, err := m.Sub(sub)
		if err != nil {
			return nil, nil, configErr("path: %v", err)
		}
		m = s
	}
	return m, append(m.Blobs(), md), nil
}
