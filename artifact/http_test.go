package artifact

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/archive"
	"github.com/gitfleet/gitfleet/blobcache"
	at "github.com/gitfleet/gitfleet/internal/artifacttest"
	"github.com/gitfleet/gitfleet/source"
)

// fixture is an HTTPS server, a cache and a fetcher trusting the server.
type fixture struct {
	srv   *at.Server
	dir   string
	cache *blobcache.Cache
	f     *Fetcher
}

func newFixture(t *testing.T, tune func(*Options)) *fixture {
	t.Helper()
	fx := &fixture{srv: at.NewHTTPS(t), dir: t.TempDir()}
	fx.reopen(t, tune)
	return fx
}

// reopen is a daemon restart: a new cache and fetcher on the same
// directory.
func (fx *fixture) reopen(t *testing.T, tune func(*Options)) {
	t.Helper()
	c, err := blobcache.Open(fx.dir, blobcache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Cache: c, TLS: fx.srv.ClientTLS(), Timeout: 30 * time.Second}
	if tune != nil {
		tune(&o)
	}
	f, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	fx.cache, fx.f = c, f
}

func (fx *fixture) source(t *testing.T, c HTTPConfig) *HTTPSource {
	t.Helper()
	if c.App == "" {
		c.App = "web"
	}
	if c.URL == "" {
		c.URL = fx.srv.URL + "/builds/web/{{.Version}}/web.tar.gz"
	}
	s, err := fx.f.HTTP(c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var webFiles = []at.Entry{
	at.Dir("web/"), at.File("web/index.html", "<h1>v1.4.2</h1>\n"),
	{Name: "web/bin/start", Body: []byte("#!/bin/sh\n"), Mode: 0o755},
	at.Symlink("web/current.html", "index.html"),
}

func digestOf(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func sumsLine(data []byte, name string) string {
	return strings.TrimPrefix(digestOf(data), "sha256:") + "  " + name + "\n"
}

func TestHTTPGoodVersionPinnedByTheRelease(t *testing.T) {
	fx := newFixture(t, nil)
	tgz := at.Tar(t, webFiles, at.Gzip)
	fx.srv.Put("/builds/web/v1.4.2/web.tar.gz", tgz)
	s := fx.source(t, HTTPConfig{Path: "web"})
	ref := Ref{Version: "v1.4.2", Digest: digestOf(tgz)}
	d, err := s.Resolve(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	if string(d) != digestOf(tgz) {
		t.Fatalf("resolved %s, want the Release's %s", d, digestOf(tgz))
	}
	if n := fx.srv.Hits("/builds/web/v1.4.2/web.tar.gz"); n != 0 {
		t.Fatalf("Resolve with a Release digest made %d requests, want 0", n)
	}
	hold := fx.cache.NewHold()
	defer hold.Release()
	a, err := s.Fetch(context.Background(), ref, d, hold)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := archive.ToTree(a.Manifest, fx.cache, 0)
	if err != nil {
		t.Fatal(err)
	}
	if e := tr.Get("index.html"); e == nil || string(e.Data) != "<h1>v1.4.2</h1>\n" {
		t.Fatalf("index.html = %+v", e)
	}
	if e := tr.Get("bin/start"); e == nil || e.Perm != 0o755 {
		t.Fatalf("bin/start = %+v, want mode 0755", e)
	}
	if tr.Digest() != a.Manifest.Digest() {
		t.Fatal("tree and manifest digests differ")
	}
	for _, b := range a.Blobs {
		if !fx.cache.Pinned(b) {
			t.Fatalf("blob %s of the artifact not held", b.Short())
		}
	}
}

func TestHTTPDigestFromSignedChecksums(t *testing.T) {
	sg := at.NewSigners(t)
	tgz := at.Tar(t, webFiles, at.Gzip)
	sums := []byte(sumsLine([]byte("other"), "web.zip") + sumsLine(tgz, "web.tar.gz"))
	for _, tc := range []struct {
		name    string
		sigPath string
		sig     []byte
	}{
		{"OpenPGP", "SHA256SUMS.asc", sg.SignPGP(t, sums)},
		{"SSH", "SHA256SUMS.sig", sg.SignSSH(t, sums, sg.SSHKey, source.FileNamespace)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t, func(o *Options) {
				o.Verifier = func(string) (*source.Verifier, error) { return sg.Verifier(t), nil }
			})
			fx.srv.Put("/builds/web/v1.4.2/web.tar.gz", tgz)
			fx.srv.Put("/builds/web/v1.4.2/SHA256SUMS", sums)
			fx.srv.Put("/builds/web/v1.4.2/"+tc.sigPath, tc.sig)
			s := fx.source(t, HTTPConfig{Checksums: "SHA256SUMS"})
			d, err := s.Resolve(context.Background(), Ref{Version: "v1.4.2"})
			if err != nil {
				t.Fatal(err)
			}
			if string(d) != digestOf(tgz) {
				t.Fatalf("digest %s, want %s", d, digestOf(tgz))
			}
			if _, err := s.Fetch(context.Background(), Ref{Version: "v1.4.2"}, d, nil); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestHTTPWrongSignatureIsRefusedBeforeDownload(t *testing.T) {
	sg := at.NewSigners(t)
	tgz := at.Tar(t, webFiles, at.Gzip)
	sums := []byte(sumsLine(tgz, "web.tar.gz"))
	forged := []byte(sumsLine([]byte("evil"), "web.tar.gz"))
	for _, tc := range []struct {
		name  string
		sums  []byte
		files map[string][]byte
		want  string
	}{
		{"stranger's SSH key", sums, map[string][]byte{"SHA256SUMS.sig": sg.SignSSH(t, sums, sg.StrangerKey, source.FileNamespace)}, "a key not in the allowed signers"},
		{"SSH signature of another namespace", sums, map[string][]byte{"SHA256SUMS.sig": sg.SignSSH(t, sums, sg.SSHKey, "git")}, `namespace "git", not file`},
		{"checksums changed after signing", forged, map[string][]byte{"SHA256SUMS.asc": sg.SignPGP(t, sums)}, "OpenPGP signature"},
		{"no signature at all", sums, nil, "a signature is required, and none was found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t, func(o *Options) {
				o.Verifier = func(string) (*source.Verifier, error) { return sg.Verifier(t), nil }
			})
			fx.srv.Put("/builds/web/v1/web.tar.gz", tgz)
			fx.srv.Put("/builds/web/v1/SHA256SUMS", tc.sums)
			for name, data := range tc.files {
				fx.srv.Put("/builds/web/v1/"+name, data)
			}
			s := fx.source(t, HTTPConfig{Checksums: "SHA256SUMS"})
			_, err := s.Resolve(context.Background(), Ref{Version: "v1"})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrIntegrity) || Retryable(err) {
				t.Fatalf("error %v, want a non-retryable ErrIntegrity containing %q", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "web v1: ") {
				t.Fatalf("error %q does not start with the app and version", err)
			}
			if n := fx.srv.Hits("/builds/web/v1/web.tar.gz"); n != 0 {
				t.Fatalf("the archive was requested %d times after a bad signature", n)
			}
		})
	}
}

func TestHTTPCorruptedByteIsRefusedBeforeExtraction(t *testing.T) {
	fx := newFixture(t, nil)
	tgz := at.Tar(t, webFiles, at.Gzip)
	bad := append([]byte(nil), tgz...)
	bad[len(bad)/2] ^= 0x01
	fx.srv.Put("/builds/web/v1.4.2/web.tar.gz", bad)
	s := fx.source(t, HTTPConfig{})
	ref := Ref{Version: "v1.4.2", Digest: digestOf(tgz)}
	_, err := s.Fetch(context.Background(), ref, blobcache.Digest(ref.Digest), nil)
	want := "web v1.4.2: " + fx.srv.URL + "/builds/web/v1.4.2/web.tar.gz: content does not match its digest"
	if err == nil || !strings.HasPrefix(err.Error(), want) || !errors.Is(err, ErrIntegrity) {
		t.Fatalf("error %v, want ErrIntegrity starting %q", err, want)
	}
	if st := fx.cache.Stats(); st.Blobs != 0 {
		t.Fatalf("%d blobs in the cache after a refused download, want 0: nothing may be extracted", st.Blobs)
	}
}

func TestHTTP404IsAPerVersionError(t *testing.T) {
	fx := newFixture(t, nil)
	s := fx.source(t, HTTPConfig{})
	ref := Ref{Version: "v1.4.3", Digest: digestOf([]byte("x"))}
	_, err := s.Fetch(context.Background(), ref, blobcache.Digest(ref.Digest), nil)
	want := "web v1.4.3: " + fx.srv.URL + "/builds/web/v1.4.3/web.tar.gz: 404 Not Found"
	if err == nil || err.Error() != want {
		t.Fatalf("error %v, want %q", err, want)
	}
	if !errors.Is(err, ErrNotFound) || !Retryable(err) {
		t.Fatal("a 404 must be ErrNotFound and retryable (CI may publish it later)")
	}
	// The checksums file missing says the same.
	s2 := fx.source(t, HTTPConfig{Checksums: "SHA256SUMS"})
	if _, err := s2.Resolve(context.Background(), Ref{Version: "v1.4.3"}); err == nil || err.Error() != "web v1.4.3: "+fx.srv.URL+"/builds/web/v1.4.3/SHA256SUMS: 404 Not Found" {
		t.Fatalf("missing checksums: %v", err)
	}
}

func TestHTTPHangingServerTimesOut(t *testing.T) {
	fx := newFixture(t, func(o *Options) { o.Timeout = 300 * time.Millisecond })
	fx.srv.Hang("/builds/web/v1/web.tar.gz")
	s := fx.source(t, HTTPConfig{})
	ref := Ref{Version: "v1", Digest: digestOf([]byte("x"))}
	_, err := s.Fetch(context.Background(), ref, blobcache.Digest(ref.Digest), nil)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no complete answer before the deadline") {
		t.Fatalf("error %v, want a deadline error", err)
	}
	if !Retryable(err) {
		t.Fatal("a timeout must be retryable")
	}
}

func TestHTTPHostileArchivesAreRefusedWithTheEntryNamed(t *testing.T) {
	for _, tc := range []struct {
		name string
		file string
		data func(t *testing.T) []byte
		want string
	}{
		{"dot-dot entry", "web.tar.gz", func(t *testing.T) []byte {
			return at.Tar(t, []at.Entry{at.File("../../etc/cron.d/x", "* * * * * root sh")}, at.Gzip)
		}, "../../etc/cron.d/x: path with `..`"},
		{"absolute path", "web.tar.gz", func(t *testing.T) []byte {
			return at.Tar(t, []at.Entry{at.File("/root/.ssh/authorized_keys", "k")}, at.Gzip)
		}, "/root/.ssh/authorized_keys: absolute path"},
		{"link to /", "web.tar.zst", func(t *testing.T) []byte { return at.Tar(t, []at.Entry{at.Symlink("rootfs", "/")}, at.Zstd) }, "rootfs: symbolic link to the absolute path /"},
		{"device node", "web.tar", func(t *testing.T) []byte {
			return at.Tar(t, []at.Entry{{Name: "dev/sda", Type: tar.TypeBlock, Mode: 0o660}}, at.None)
		}, "dev/sda: device node"},
		{"tar bomb", "web.tar.gz", func(t *testing.T) []byte {
			return at.Tar(t, []at.Entry{{Name: "zeros", Size: 256 << 20, Mode: 0o644}}, at.Gzip)
		}, "zeros: file of 268435456 bytes, more than the limit of 16777216"},
		{"zip with duplicate names", "web.zip", func(t *testing.T) []byte {
			return at.Zip(t, []at.ZipEntry{{Name: "index.html", Body: "good"}, {Name: "bin/", Mode: fs.ModeDir | 0o755}, {Name: "index.html", Body: "evil"}})
		}, "index.html: duplicate entry"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t, func(o *Options) { o.Limits = archive.Limits{MaxBytes: 16 << 20} })
			data := tc.data(t)
			fx.srv.Put("/builds/web/v1/"+tc.file, data)
			s := fx.source(t, HTTPConfig{URL: fx.srv.URL + "/builds/web/{{.Version}}/" + tc.file})
			ref := Ref{Version: "v1", Digest: digestOf(data)}
			_, err := s.Fetch(context.Background(), ref, blobcache.Digest(ref.Digest), nil)
			want := "web v1: " + fx.srv.URL + "/builds/web/v1/" + tc.file + ": " + tc.want
			if err == nil || !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("error %v\nwant it to start %q", err, want)
			}
			if Retryable(err) {
				t.Fatal("a refused archive must not be retried")
			}
		})
	}
}

func TestHTTPSameVersionForTwoEnvironmentsIsDownloadedOnce(t *testing.T) {
	fx := newFixture(t, nil)
	tgz := at.Tar(t, webFiles, at.Gzip)
	const p = "/builds/web/v1.4.2/web.tar.gz"
	fx.srv.Put(p, tgz)
	ref := Ref{Version: "v1.4.2", Digest: digestOf(tgz)}
	d := blobcache.Digest(ref.Digest)
	// Two environments, each with its own App source, at the same moment.
	var wg sync.WaitGroup
	digests := make([]string, 4)
	errs := make([]error, 4)
	for i := range digests {
		s := fx.source(t, HTTPConfig{App: fmt.Sprintf("web-env%d", i)})
		wg.Go(func() {
			h := fx.cache.NewHold()
			defer h.Release()
			a, err := s.Fetch(context.Background(), ref, d, h)
			if err == nil {
				digests[i] = a.Manifest.Digest()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil || digests[i] != digests[0] {
			t.Fatalf("fetch %d: %v (digest %s, want %s)", i, err, digests[i], digests[0])
		}
	}
	if n := fx.srv.Hits(p); n != 1 {
		t.Fatalf("archive downloaded %d times by 4 concurrent fetches, want 1", n)
	}
	// After a restart the manifest is found in the cache: no download.
	fx.reopen(t, nil)
	a, err := fx.source(t, HTTPConfig{}).Fetch(context.Background(), ref, d, nil)
	if err != nil || a.Manifest.Digest() != digests[0] {
		t.Fatalf("after restart: %v", err)
	}
	if n := fx.srv.Hits(p); n != 1 {
		t.Fatalf("archive downloaded %d times after a restart, want still 1", n)
	}
}

func TestHTTPRedirectToAnotherOriginGetsNoCredentials(t *testing.T) {
	store := at.NewHTTPS(t) // the object store, on another port
	tgz := at.Tar(t, webFiles, at.Gzip)
	store.Put("/bucket/web.tar.gz", tgz)
	fx := newFixture(t, func(o *Options) {
		o.Auth = func(url string) (*source.GitAuth, error) { return &source.GitAuth{BearerToken: "ci-token"}, nil }
	})
	fx.srv.RequireAuthorization("Bearer ci-token")
	fx.srv.Redirect("/builds/web/v1/web.tar.gz", store.URLOf("/bucket/web.tar.gz")+"?X-Amz-Signature=abc")
	s := fx.source(t, HTTPConfig{})
	ref := Ref{Version: "v1", Digest: digestOf(tgz)}
	if _, err := s.Fetch(context.Background(), ref, blobcache.Digest(ref.Digest), nil); err != nil {
		t.Fatal(err)
	}
	if got := fx.srv.Authorization("/builds/web/v1/web.tar.gz"); got != "Bearer ci-token" {
		t.Fatalf("the CI server got Authorization %q, want the bearer token", got)
	}
	if got := store.Authorization("/bucket/web.tar.gz"); got != "" {
		t.Fatalf("the object store on another port got Authorization %q, want none", got)
	}
	// A redirect from https to http is refused.
	plain := httptest.NewServer(nil)
	defer plain.Close()
	fx.srv.Redirect("/builds/web/v2/web.tar.gz", plain.URL+"/web.tar.gz")
	ref2 := Ref{Version: "v2", Digest: digestOf([]byte("y"))}
	if _, err := s.Fetch(context.Background(), ref2, blobcache.Digest(ref2.Digest), nil); err == nil || !strings.Contains(err.Error(), "redirect from https to") {
		t.Fatalf("https → http redirect: %v", err)
	}
}

func TestHTTPCredentialsAndSizeCap(t *testing.T) {
	tgz := at.Tar(t, webFiles, at.Gzip)
	fx := newFixture(t, nil)
	fx.srv.Put("/builds/web/v1/web.tar.gz", tgz)
	ref := Ref{Version: "v1", Digest: digestOf(tgz)}
	fetch := func(auth *source.GitAuth, max int64) error {
		fx.reopen(t, func(o *Options) {
			o.Auth = func(string) (*source.GitAuth, error) { return auth, nil }
			o.MaxDownloadBytes = max
		})
		_, err := fx.source(t, HTTPConfig{}).Fetch(context.Background(), ref, blobcache.Digest(ref.Digest), nil)
		return err
	}
	fx.srv.RequireAuthorization("Bearer right")
	if err := fetch(nil, 0); !errors.Is(err, ErrAuth) || !strings.HasSuffix(err.Error(), ": 401 Unauthorized") {
		t.Fatalf("without credentials: %v, want a 401 ErrAuth", err)
	}
	if err := fetch(&source.GitAuth{BearerToken: "right"}, 0); err != nil {
		t.Fatalf("with the bearer token: %v", err)
	}
	fx.srv.RequireAuthorization("Basic " + base64.StdEncoding.EncodeToString([]byte("deploy:pw")))
	if err := fetch(&source.GitAuth{Username: "deploy", Password: "pw"}, 0); err != nil {
		t.Fatalf("with basic auth: %v", err)
	}
	fx.dir = t.TempDir() // the archive is in the old cache: no download there
	if err := fetch(&source.GitAuth{Username: "deploy", Password: "pw"}, int64(len(tgz)-1)); !errors.Is(err, blobcache.ErrTooLarge) || Retryable(err) {
		t.Fatalf("over the download cap: %v, want ErrTooLarge", err)
	}
}
