package source

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"golang.org/x/net/proxy"
)

// ErrTooLarge is what a list or fetch fails with when the remote sends more
// than its bound: an endless reference list or pack must not grow memory or
// disk without limit.
var ErrTooLarge = errors.New("remote sent more than allowed")

// Bounds of what one operation may read from a remote, derived from the
// bound of the tree that is read in the end (maxBytes).
const (
	minRefListBytes = 1 << 20  // 1 MiB: a few thousand references
	maxRefListBytes = 64 << 20 // 64 MiB: several hundred thousand references
	packSlackBytes  = 1 << 20  // pack header, trees and commits of a tiny tree
	sshSlackBytes   = 64 << 10 // key exchange and channel framing of SSH
)

// remoteBounds gives the bounds of the reference list and of the pack of a
// remote whose tree is bounded by maxBytes. The reference list gets a
// sixteenth of it, at least 1 MiB and at most 64 MiB; a pack holds the
// tree's objects compressed, plus the commits a fast-forward brings, so it
// gets twice maxBytes and 1 MiB.
func remoteBounds(maxBytes int64) (refs, pack int64) {
	refs = min(max(maxBytes/16, minRefListBytes), maxRefListBytes)
	if maxBytes > (math.MaxInt64-packSlackBytes)/2 {
		return refs, math.MaxInt64
	}
	return refs, 2*maxBytes + packSlackBytes
}

// readLimit bounds what one list or fetch reads from its remote. Over
// HTTP(S) each response is bounded on its own: the reference list
// (GET .../info/refs) by refs, the pack (POST .../git-upload-pack) by pack.
// Over SSH the whole connection is bounded by the sum, since the reference
// list and the pack come down one stream.
type readLimit struct {
	refs, pack int64

	mu    sync.Mutex
	what  string // what went over its bound, "" while none did
	bound int64
}

// tripped records that what passed bound and returns the error a reader
// gives from then on.
func (l *readLimit) tripped(what string, bound int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.what == "" {
		l.what, l.bound = what, bound
	}
	return fmt.Errorf("%s larger than %d bytes: %w", what, bound, ErrTooLarge)
}

// err is the error of an operation whose bound was passed, nil otherwise.
// It replaces whatever the Git library made of the failed read.
func (l *readLimit) err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.what == "" {
		return nil
	}
	return fmt.Errorf("%s larger than %d bytes (the bound follows maxBytes): %w", l.what, l.bound, ErrTooLarge)
}

// countingReader fails once more than bound bytes came through it.
type countingReader struct {
	r     io.Reader
	n     int64
	bound int64
	what  string
	l     *readLimit
}

func (c *countingReader) Read(p []byte) (int, error) {
	if c.n > c.bound {
		return 0, c.l.tripped(c.what, c.bound)
	}
	if rest := c.bound - c.n; rest < int64(len(p))-1 {
		p = p[:rest+1] // read at most one byte past the bound
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n > c.bound {
		return 0, c.l.tripped(c.what, c.bound)
	}
	return n, err
}

type readLimitKey struct{}

// withReadLimit makes the HTTP requests of a Git operation under ctx
// bounded by l.
func withReadLimit(ctx context.Context, l *readLimit) context.Context {
	return context.WithValue(ctx, readLimitKey{}, l)
}

// limitTransport bounds the response bodies of requests whose context
// carries a readLimit; other requests pass through unchanged.
type limitTransport struct{ base http.RoundTripper }

func (t limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := t.base.RoundTrip(req)
	l, _ := req.Context().Value(readLimitKey{}).(*readLimit)
	if err != nil || l == nil {
		return res, err
	}
	what, bound := "pack", l.pack
	if strings.HasSuffix(req.URL.Path, "/info/refs") {
		what, bound = "reference list", l.refs
	}
	res.Body = struct {
		io.Reader
		io.Closer
	}{&countingReader{r: res.Body, bound: bound, what: what, l: l}, res.Body}
	return res, nil
}

// The go-git library looks its transports up in a process-wide table
// (client.Protocols), and dials SSH through golang.org/x/net/proxy's
// process-wide table of proxy schemes: neither takes a client per call. So
// gitfleet installs, once, an HTTP transport that bounds a response only
// when the request's context carries a readLimit, and an SSH "proxy" that
// dials directly and bounds the connection by the readLimit its URL names.
// Calls that carry no limit behave exactly as go-git's defaults, except
// that HTTP endpoints can no longer carry go-git's per-endpoint TLS or
// proxy options (CA bundle, client certificate, insecure, proxy URL), which
// gitfleet does not use.
var (
	installOnce sync.Once
	sshLimits   sync.Map // id → *readLimit, while an SSH operation runs
	sshLimitSeq atomic.Uint64
)

// limitScheme is the proxy scheme of bounded SSH connections.
const limitScheme = "gitfleet-bounded"

func installLimits() {
	installOnce.Do(func() {
		hc := githttp.NewClient(&http.Client{Transport: limitTransport{base: http.DefaultTransport}})
		client.InstallProtocol("http", hc)
		client.InstallProtocol("https", hc)
		proxy.RegisterDialerType(limitScheme, boundedDialer)
	})
}

// sshProxy registers l for one SSH operation and returns the proxy options
// that make go-git dial through the bounded dialer, and the function that
// forgets l when the operation is over.
func sshProxy(l *readLimit) (transport.ProxyOptions, func()) {
	id := strconv.FormatUint(sshLimitSeq.Add(1), 10)
	sshLimits.Store(id, l)
	return transport.ProxyOptions{URL: limitScheme + "://limit/" + id}, func() { sshLimits.Delete(id) }
}

func boundedDialer(u *url.URL, _ proxy.Dialer) (proxy.Dialer, error) {
	v, ok := sshLimits.Load(strings.TrimPrefix(u.Path, "/"))
	if !ok {
		return nil, fmt.Errorf("no read limit %s", u.Path)
	}
	return boundedDial{v.(*readLimit)}, nil
}

// boundedDial dials the way go-git does without a proxy (honouring
// ALL_PROXY) and bounds what is read from the connection.
type boundedDial struct{ l *readLimit }

func (d boundedDial) Dial(network, addr string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, addr)
}

func (d boundedDial) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := proxy.Dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	what, bound := "reference list", addBounded(d.l.refs, sshSlackBytes)
	if d.l.pack > 0 {
		what, bound = "reference list and pack", addBounded(bound, d.l.pack)
	}
	return &boundedConn{Conn: c, r: countingReader{r: c, bound: bound, what: what, l: d.l}}, nil
}

type boundedConn struct {
	net.Conn
	r countingReader
}

func (c *boundedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func addBounded(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// isSSH reports whether url is reached over SSH.
func isSSH(rawURL string) bool {
	ep, err := transport.NewEndpoint(rawURL)
	return err == nil && ep.Protocol == "ssh"
}

// packObjectsBound is how many objects a pack within packBound bytes may
// announce: an object of a real pack averages well over 128 bytes. go-git
// sizes the pack's index by the announced count before the first object
// arrives (32 bytes an object), so a header announcing 2^32-1 objects would
// take 128 GiB; the bound keeps that within a quarter of packBound.
func packObjectsBound(packBound int64) uint32 {
	return uint32(min(max(packBound/128, 1<<20), math.MaxUint32))
}

// boundedStorage is a repository's storage that checks the header of every
// pack written into it before go-git reads the header's object count.
type boundedStorage struct {
	*filesystem.Storage
	maxObjects uint32
	packBound  int64
}

// PackfileWriter is go-git's way into the storage for a fetched pack.
func (s *boundedStorage) PackfileWriter() (io.WriteCloser, error) {
	w, err := s.Storage.PackfileWriter()
	if err != nil {
		return nil, err
	}
	return &packHeaderCheck{w: w, s: s}, nil
}

// packHeaderCheck holds back a pack's 12-byte header until it is complete
// and refuses a pack that announces more objects than allowed.
type packHeaderCheck struct {
	w    io.WriteCloser
	s    *boundedStorage
	head []byte
	done bool
	err  error
}

const packHeaderLen = 12 // "PACK", version, object count

func (c *packHeaderCheck) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if c.done {
		return c.w.Write(p)
	}
	n := min(packHeaderLen-len(c.head), len(p))
	c.head = append(c.head, p[:n]...)
	if len(c.head) < packHeaderLen {
		return len(p), nil
	}
	c.done = true
	if string(c.head[:4]) == "PACK" {
		if count := binary.BigEndian.Uint32(c.head[8:]); count > c.s.maxObjects {
			c.err = fmt.Errorf("pack announces %d objects, more than the %d a pack within %d bytes may hold: %w", count, c.s.maxObjects, c.s.packBound, ErrTooLarge)
			return 0, c.err
		}
	}
	if _, err := c.w.Write(c.head); err != nil {
		c.err = err
		return 0, err
	}
	m, err := c.w.Write(p[n:])
	return n + m, err
}

func (c *packHeaderCheck) Close() error {
	if !c.done && len(c.head) > 0 {
		c.w.Write(c.head) // too short for a pack: go-git says so
	}
	return c.w.Close()
}
