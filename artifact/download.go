package artifact

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gitfleet/gitfleet/blobcache"
	"github.com/gitfleet/gitfleet/source"
)

// maxRedirects bounds a redirect chain.
const maxRedirects = 10

// newHTTPClient is the client of every download: TLS as configured, the
// environment's proxy (never for loopback), and a redirect policy that
// refuses https → http and drops the Authorization header for good once the
// chain leaves the origin (scheme, host and port) of its first request, so
// a presigned object-store URL gets no credentials of the CI server, and
// nor does another port of the same host.
func newHTTPClient(tlsConf *tls.Config) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if tlsConf != nil {
		tr.TLSClientConfig = tlsConf.Clone()
	}
	tr.ResponseHeaderTimeout = 0 // the request's context bounds it all
	// The bytes as stored, never decoded on the way: a .tar.gz served with
	// Content-Encoding: gzip must still match the digest of the file.
	tr.DisableCompression = true
	return &http.Client{Transport: tr, CheckRedirect: checkRedirect}
}

func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	first := via[0].URL
	if first.Scheme == "https" && req.URL.Scheme != "https" {
		return fmt.Errorf("redirect from https to %s refused", redact(req.URL))
	}
	for _, r := range append(via[1:], req) {
		if !sameOrigin(first, r.URL) {
			req.Header.Del("Authorization")
			break
		}
	}
	return nil
}

func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && canonicalHost(a) == canonicalHost(b)
}

func canonicalHost(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[strings.ToLower(u.Scheme)]
	}
	return strings.ToLower(net.JoinHostPort(u.Hostname(), port))
}

// getter sends GET requests with the credentials of the URL's prefix.
type getter struct {
	client *http.Client
	auth   func(url string) (*source.GitAuth, error)

	mu    sync.Mutex
	creds map[string]*source.GitAuth // by URL, at most 256: secrets are not read at every request
}

// get returns the response of a 2xx answer; anything else is an error
// naming the URL (redacted) and the status. The caller closes the body.
func (g *getter) get(ctx context.Context, u *url.URL) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", redact(u), err)
	}
	req.Header.Set("User-Agent", "gitfleet")
	a, err := g.credentials(u)
	if err != nil {
		return nil, err
	}
	switch {
	case a == nil:
	case a.BearerToken != "":
		req.Header.Set("Authorization", "Bearer "+a.BearerToken)
	case a.Username != "" || a.Password != "":
		req.SetBasicAuth(a.Username, a.Password)
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return nil, requestError(u, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		io.CopyN(io.Discard, resp.Body, 4<<10)
		resp.Body.Close()
		return nil, &statusError{url: redact(u), code: resp.StatusCode}
	}
	return resp, nil
}

func (g *getter) credentials(u *url.URL) (*source.GitAuth, error) {
	if g.auth == nil {
		return nil, nil
	}
	key := u.String()
	g.mu.Lock()
	defer g.mu.Unlock()
	if a, ok := g.creds[key]; ok {
		return a, nil
	}
	a, err := g.auth(key)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", redact(u), err)
	}
	if g.creds == nil || len(g.creds) >= 256 {
		g.creds = map[string]*source.GitAuth{}
	}
	g.creds[key] = a
	return a, nil
}

// requestError names the URL the caller asked for (redacted) and the
// cause, without the URL of a redirect hop (a presigned URL is a secret).
func requestError(u *url.URL, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: no complete answer before the deadline: %w", redact(u), err)
	}
	return fmt.Errorf("%s: %w", redact(u), err)
}

// download streams the body at u into the cache, refusing content over max
// bytes or whose digest is not want. Nothing is stored unless all of it
// arrived and matched.
func (g *getter) download(ctx context.Context, u *url.URL, c *blobcache.Cache, want blobcache.Digest, max int64, hold *blobcache.Hold) (int64, error) {
	resp, err := g.get(ctx, u)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.ContentLength > max {
		return 0, fmt.Errorf("%s: %d bytes, more than the limit of %d: %w", redact(u), resp.ContentLength, max, blobcache.ErrTooLarge)
	}
	_, n, err := c.Put(resp.Body, blobcache.PutOptions{Want: want, MaxBytes: max, Hold: hold})
	switch {
	case errors.Is(err, blobcache.ErrMismatch):
		return n, integrityError{fmt.Errorf("%s: content does not match its digest: %w", redact(u), err)}
	case errors.Is(err, blobcache.ErrTooLarge):
		return n, fmt.Errorf("%s: more than the limit of %d bytes: %w", redact(u), max, err)
	case err != nil:
		if ctx.Err() != nil {
			return n, fmt.Errorf("%s: download not complete before the deadline (%d bytes in): %w", redact(u), n, ctx.Err())
		}
		return n, fmt.Errorf("%s: %w", redact(u), err)
	}
	return n, nil
}

// small reads a small document (a checksums file, a signature) of at most
// max bytes.
func (g *getter) small(ctx context.Context, u *url.URL, max int64) ([]byte, error) {
	resp, err := g.get(ctx, u)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: no complete answer before the deadline: %w", redact(u), ctx.Err())
		}
		return nil, fmt.Errorf("%s: %w", redact(u), err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s: more than %d bytes: %w", redact(u), max, blobcache.ErrTooLarge)
	}
	return data, nil
}

// deadline bounds one operation.
func deadline(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d)
}
