package artifact

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/archive"
	"github.com/gitfleet/gitfleet/blobcache"
	at "github.com/gitfleet/gitfleet/internal/artifacttest"
	"github.com/gitfleet/gitfleet/internal/registrytest"
	"github.com/gitfleet/gitfleet/source"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// dockerConfig writes a config.json holding the registry's credentials.
func dockerConfig(t *testing.T, r *registrytest.Registry) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.json")
	auth := base64.StdEncoding.EncodeToString([]byte(r.User + ":" + r.Password))
	os.WriteFile(p, []byte(`{"auths":{"`+r.Addr+`":{"auth":"`+auth+`"}}}`), 0o600)
	return p
}

func ociFetcher(t *testing.T, dir string, tune func(*Options)) (*Fetcher, *blobcache.Cache) {
	t.Helper()
	c, err := blobcache.Open(dir, blobcache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Cache: c, Timeout: time.Minute}
	if tune != nil {
		tune(&o)
	}
	f, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return f, c
}

func fileOf(t *testing.T, c *blobcache.Cache, a *Artifact, p string) string {
	t.Helper()
	e := a.Manifest.Get(p)
	if e == nil {
		t.Fatalf("%s not in the artifact", p)
	}
	data, err := c.ReadAll(e.SHA256, 0)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestOCIPushResolveFetchAndMovedTag(t *testing.T) {
	r := registrytest.Start(t)
	v1 := r.Push(t, "team/web", "v1.4.2", registrytest.Layer{Name: "web.tar.gz", Data: at.Tar(t, []at.Entry{at.File("index.html", "one")}, at.Gzip)})
	f, c := ociFetcher(t, t.TempDir(), func(o *Options) {
		o.DockerConfig = dockerConfig(t, r)
		o.PlainHTTP = []string{r.Addr}
	})
	s, err := f.OCI(OCIConfig{App: "web", Repository: r.Addr + "/team/web"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ref := Ref{Version: "v1.4.2"}
	d, err := s.Resolve(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if string(d) != v1 {
		t.Fatalf("resolved %s, want the pushed %s", d, v1)
	}
	a, err := s.Fetch(ctx, ref, d, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := fileOf(t, c, a, "index.html"); got != "one" {
		t.Fatalf("index.html = %q", got)
	}

	// CI pushes other content under the same tag: Resolve shows the new
	// digest; the caller, holding v1, sees the move. The pinned digest is
	// still fetched as it was.
	v1b := r.Push(t, "team/web", "v1.4.2", registrytest.Layer{Name: "web.tar.gz", Data: at.Tar(t, []at.Entry{at.File("index.html", "two")}, at.Gzip)})
	moved, err := s.Resolve(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if string(moved) != v1b || moved == d {
		t.Fatalf("after re-tagging: resolved %s, want the new %s (old %s)", moved, v1b, d)
	}
	again, err := s.Fetch(ctx, ref, d, nil)
	if err != nil || fileOf(t, c, again, "index.html") != "one" {
		t.Fatalf("the pinned digest no longer gives its content: %v", err)
	}
	other, err := s.Fetch(ctx, ref, moved, nil)
	if err != nil || fileOf(t, c, other, "index.html") != "two" {
		t.Fatalf("the moved tag's content: %v", err)
	}
	// A version given as a digest resolves to itself, without the registry.
	if got, err := s.Resolve(ctx, Ref{Version: v1}); err != nil || string(got) != v1 {
		t.Fatalf("version as a digest: %s, %v", got, err)
	}
}

func TestOCILayersMediaTypesAndPath(t *testing.T) {
	r := registrytest.Start(t)
	base := at.Tar(t, []at.Entry{at.File("app/index.html", "base"), at.File("app/old.js", "old")}, at.Zstd)
	top := at.Tar(t, []at.Entry{at.File("app/index.html", "top"), at.File("app/.wh.old.js", "")}, at.None)
	digest := r.Push(t, "team/api", "v2",
		registrytest.Layer{Name: "base.tar.zst", MediaType: ocispec.MediaTypeImageLayerZstd, Data: base},
		registrytest.Layer{Name: "top.tar", MediaType: "application/vnd.acme.site.tar", Data: top})
	f, c := ociFetcher(t, t.TempDir(), func(o *Options) {
		o.PlainHTTP = []string{r.Addr}
		o.Auth = func(url string) (*source.GitAuth, error) {
			if url != "oci://"+r.Addr+"/team/api" {
				t.Errorf("credentials asked for %s", url)
			}
			return &source.GitAuth{Username: r.User, Password: r.Password}, nil
		}
	})
	s, _ := f.OCI(OCIConfig{App: "api", Repository: r.Addr + "/team/api", Path: "app"})
	a, err := s.Fetch(context.Background(), Ref{Version: "v2"}, blobcache.Digest(digest), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := fileOf(t, c, a, "index.html"); got != "top" {
		t.Fatalf("index.html = %q, want the top layer's", got)
	}
	if a.Manifest.Get("old.js") != nil {
		t.Fatal("old.js kept despite the whiteout of the top layer")
	}

	bad := r.Push(t, "team/api", "v3", registrytest.Layer{Name: "notes.txt", MediaType: "text/plain", Data: []byte("hello")})
	if _, err := s.Fetch(context.Background(), Ref{Version: "v3"}, blobcache.Digest(bad), nil); err == nil || !strings.Contains(err.Error(), "layer 1 has media type text/plain, not a tar archive") || !errors.Is(err, ErrConfig) {
		t.Fatalf("a text layer: %v", err)
	}
	evil := r.Push(t, "team/api", "v4", registrytest.Layer{Name: "evil.tar.gz", Data: at.Tar(t, []at.Entry{at.File("../../etc/passwd", "x")}, at.Gzip)})
	if _, err := s.Fetch(context.Background(), Ref{Version: "v4"}, blobcache.Digest(evil), nil); err == nil || !strings.Contains(err.Error(), "../../etc/passwd: path with `..`") || !errors.Is(err, archive.ErrUnsafe) {
		t.Fatalf("a hostile layer: %v", err)
	}
}

func TestOCIErrors(t *testing.T) {
	r := registrytest.Start(t)
	digest := r.Push(t, "team/web", "v1", registrytest.Layer{Name: "web.tar", Data: at.Tar(t, []at.Entry{at.File("a", "a")}, at.None)})
	ctx := context.Background()

	noCreds, _ := ociFetcher(t, t.TempDir(), func(o *Options) { o.PlainHTTP = []string{r.Addr} })
	s, _ := noCreds.OCI(OCIConfig{App: "web", Repository: r.Addr + "/team/web"})
	if _, err := s.Resolve(ctx, Ref{Version: "v1"}); err == nil || !errors.Is(err, ErrAuth) {
		t.Fatalf("without credentials: %v, want ErrAuth", err)
	}

	wrong, _ := ociFetcher(t, t.TempDir(), func(o *Options) {
		o.PlainHTTP = []string{r.Addr}
		o.Auth = func(string) (*source.GitAuth, error) {
			return &source.GitAuth{Username: r.User, Password: "wrong"}, nil
		}
	})
	s, _ = wrong.OCI(OCIConfig{App: "web", Repository: r.Addr + "/team/web"})
	if _, err := s.Resolve(ctx, Ref{Version: "v1"}); err == nil || !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "401 Unauthorized") {
		t.Fatalf("wrong password: %v, want a 401 ErrAuth", err)
	}

	withCreds, _ := ociFetcher(t, t.TempDir(), func(o *Options) {
		o.PlainHTTP = []string{r.Addr}
		o.DockerConfig = dockerConfig(t, r)
	})
	s, _ = withCreds.OCI(OCIConfig{App: "web", Repository: r.Addr + "/team/web"})
	want := "web v9: " + r.Addr + "/team/web:v9: 404 Not Found"
	if _, err := s.Resolve(ctx, Ref{Version: "v9"}); err == nil || !strings.HasPrefix(err.Error(), want) || !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown tag: %v, want %q", err, want)
	}
	missing := "sha256:" + strings.Repeat("0", 64)
	if _, err := s.Fetch(ctx, Ref{Version: "v1"}, blobcache.Digest(missing), nil); err == nil || !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown digest: %v, want ErrNotFound", err)
	}

	// Without the plain-HTTP setting, the registry is spoken to over TLS,
	// which it does not offer.
	tlsOnly, _ := ociFetcher(t, t.TempDir(), func(o *Options) { o.DockerConfig = dockerConfig(t, r) })
	s, _ = tlsOnly.OCI(OCIConfig{App: "web", Repository: r.Addr + "/team/web"})
	if _, err := s.Resolve(ctx, Ref{Version: "v1"}); err == nil || !strings.Contains(err.Error(), "HTTP response to HTTPS client") {
		t.Fatalf("plain-HTTP registry without the setting: %v", err)
	}
	_ = digest
}

func TestOCIFetchedOnceThenServedFromTheCache(t *testing.T) {
	r := registrytest.Start(t)
	digest := r.Push(t, "team/web", "v1", registrytest.Layer{Name: "web.tar.gz", Data: at.Tar(t, webFiles, at.Gzip)})
	dir := t.TempDir()
	tune := func(o *Options) {
		o.PlainHTTP = []string{r.Addr}
		o.DockerConfig = dockerConfig(t, r)
		o.Timeout = 5 * time.Second
	}
	f, _ := ociFetcher(t, dir, tune)
	s, _ := f.OCI(OCIConfig{App: "web", Repository: r.Addr + "/team/web", Path: "web"})
	first, err := s.Fetch(context.Background(), Ref{Version: "v1"}, blobcache.Digest(digest), nil)
	if err != nil {
		t.Fatal(err)
	}
	// The registry goes away; a restarted daemon (new cache and fetcher on
	// the same directory), for another environment, still gets the
	// content by digest: it was downloaded once.
	r.Stop(t)
	f2, _ := ociFetcher(t, dir, tune)
	s2, _ := f2.OCI(OCIConfig{App: "web", Repository: r.Addr + "/team/web", Path: "web"})
	second, err := s2.Fetch(context.Background(), Ref{Version: "v1"}, blobcache.Digest(digest), nil)
	if err != nil {
		t.Fatalf("second fetch needed the registry: %v", err)
	}
	if first.Manifest.Digest() != second.Manifest.Digest() {
		t.Fatal("the second fetch gave other files")
	}
}
