package source

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"
)

// Webhook providers.
const (
	GitHub  = "github"
	GitLab  = "gitlab"
	Gitea   = "gitea"
	Generic = "generic"
)

// MaxWebhookBody bounds a webhook request body.
const MaxWebhookBody = 1 << 20

// Defaults of the bounds on receiving bodies.
const (
	// DefaultWebhookBodyTimeout bounds the time a body may take to
	// arrive once the headers are in.
	DefaultWebhookBodyTimeout = 10 * time.Second
	// DefaultWebhookMemory bounds the bytes of bodies held at once, across
	// clients, until their senders are authenticated.
	DefaultWebhookMemory = 16 << 20
	// DefaultWebhookClientMemory bounds the bytes of bodies held at once
	// for one client (an IPv4 address or an IPv6 /64).
	DefaultWebhookClientMemory = 4 << 20
)

// Target is what a push moves: the Git source.
type Target interface {
	Tracks(ref string) bool
	Trigger()
}

// Webhooks receives push notifications and turns a push to the followed
// reference into an immediate poll. The signature or token is checked
// before anything in the body is parsed; bodies are bounded in size, in
// the time they take to arrive, and in the memory they hold, per client
// and in total. Memory is taken as bytes arrive, never reserved for a body
// announced, so clients that send slowly hold almost nothing and cannot
// keep a signed request out; one poll absorbs any burst of triggers.
type Webhooks struct {
	// Secrets by provider: the HMAC key (GitHub, Gitea, generic) or the
	// token (GitLab). A provider without a secret has no receiver.
	Secrets map[string][]byte
	Target  Target
	Log     *slog.Logger
	// Count records each request's result; nil records nothing.
	Count func(provider, result string)
	// BodyTimeout bounds the time to receive a body once the headers are
	// in (default DefaultWebhookBodyTimeout).
	BodyTimeout time.Duration
	// Memory and ClientMemory bound the bytes of bodies whose senders are
	// not authenticated yet, in total and per client (defaults
	// DefaultWebhookMemory and DefaultWebhookClientMemory). Bodies of
	// requests authenticated by their headers (GitLab's token) draw on a
	// budget of their own, so unauthenticated clients cannot spend it.
	Memory, ClientMemory int64

	unverified, verified *bodyBudget
}

// Handler serves POST /webhooks/<provider> for each configured provider.
func (w *Webhooks) Handler() http.Handler {
	memory, perClient := w.Memory, w.ClientMemory
	if memory <= 0 {
		memory = DefaultWebhookMemory
	}
	if perClient <= 0 {
		perClient = DefaultWebhookClientMemory
	}
	w.unverified = newBodyBudget(memory, min(perClient, memory))
	w.verified = newBodyBudget(memory, memory)
	mux := http.NewServeMux()
	for _, p := range []string{GitHub, GitLab, Gitea, Generic} {
		if len(w.Secrets[p]) == 0 {
			continue
		}
		mux.HandleFunc("POST /webhooks/"+p, func(rw http.ResponseWriter, r *http.Request) {
			start := time.Now()
			body := &eofReader{ReadCloser: r.Body, eof: r.ContentLength == 0}
			r.Body = body
			result, code, msg := w.serve(p, rw, r)
			if w.Count != nil {
				w.Count(p, result)
			}
			w.log().Info("webhook", "provider", p, "result", result, "status", code, "remote", r.RemoteAddr, "duration", time.Since(start).Round(time.Millisecond))
			if !body.eof {
				// Otherwise the server would wait for the rest of the
				// body, without a deadline, before it answers.
				rw.Header().Set("Connection", "close")
			}
			rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
			rw.WriteHeader(code)
			io.WriteString(rw, msg+"\n")
		})
	}
	return mux
}

// serve authenticates, bounds, parses and acts on one request.
func (w *Webhooks) serve(provider string, rw http.ResponseWriter, r *http.Request) (result string, code int, msg string) {
	if r.ContentLength > MaxWebhookBody {
		return "too_large", http.StatusRequestEntityTooLarge, "body too large"
	}
	secret := w.Secrets[provider]

	// Headers first: a request without credentials is refused before its
	// body is read.
	var sig []byte
	pool := w.unverified
	switch provider {
	case GitLab:
		tok := r.Header.Get("X-Gitlab-Token")
		if tok == "" || subtle.ConstantTimeCompare([]byte(tok), secret) != 1 {
			return "unauthorized", http.StatusUnauthorized, "bad token"
		}
		pool = w.verified
	case GitHub, Gitea, Generic:
		var err error
		if sig, err = signatureHeader(provider, r.Header); err != nil {
			return "unauthorized", http.StatusUnauthorized, err.Error()
		}
	}

	body, release, err := w.readBody(rw, r, pool)
	defer release()
	switch {
	case errors.Is(err, errTooLarge):
		return "too_large", http.StatusRequestEntityTooLarge, "body too large"
	case errors.Is(err, errBusy):
		return "busy", http.StatusTooManyRequests, "busy"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout", http.StatusRequestTimeout, "body not received in time"
	case err != nil:
		return "bad_request", http.StatusBadRequest, "cannot read body"
	}
	if sig != nil {
		mac := hmac.New(sha256.New, secret)
		mac.Write(body)
		if !hmac.Equal(mac.Sum(nil), sig) {
			return "unauthorized", http.StatusUnauthorized, "bad signature"
		}
	}

	// Authenticated: now the body may be looked at.
	if event := eventOf(provider, r.Header); event == "ping" {
		return "ignored", http.StatusOK, "pong"
	} else if event != "push" {
		return "ignored", http.StatusAccepted, "event " + event + " ignored"
	}
	var push struct {
		Ref string `json:"ref"`
	}
	if err := json.Unmarshal(body, &push); err != nil || push.Ref == "" {
		return "bad_request", http.StatusBadRequest, "body is not a push event with a ref"
	}
	if !w.Target.Tracks(push.Ref) {
		return "ignored", http.StatusAccepted, push.Ref + " is not followed"
	}
	w.Target.Trigger()
	return "triggered", http.StatusAccepted, "fetching " + push.Ref
}

// readBody reads the request's body under its deadline, taking the memory
// it holds from pool as bytes arrive; release gives that memory back.
func (w *Webhooks) readBody(rw http.ResponseWriter, r *http.Request, pool *bodyBudget) (body []byte, release func(), err error) {
	timeout := w.BodyTimeout
	if timeout <= 0 {
		timeout = DefaultWebhookBodyTimeout
	}
	// The connection's read deadline bounds a body that trickles in; a
	// writer that does not support one (a test recorder) has no network
	// to wait on.
	rc := http.NewResponseController(rw)
	if rc.SetReadDeadline(time.Now().Add(timeout)) == nil {
		defer rc.SetReadDeadline(time.Time{})
	}
	client := clientOf(r.RemoteAddr)
	var held int64
	body, err = readBounded(r.Body, MaxWebhookBody, func(n int64) bool {
		if !pool.take(client, n) {
			return false
		}
		held += n
		return true
	})
	return body, func() { pool.give(client, held) }, err
}

var (
	errTooLarge = errors.New("body too large")
	errBusy     = errors.New("memory for bodies spent")
)

// readBounded reads r to its end. Its buffer grows only as bytes arrive,
// from 1 KiB, doubling, and each growth is first taken with take; it fails
// with errBusy when take refuses and with errTooLarge past limit bytes.
func readBounded(r io.Reader, limit int64, take func(n int64) bool) ([]byte, error) {
	var buf []byte
	for {
		if len(buf) == cap(buf) {
			size := min(max(1024, 2*int64(cap(buf))), limit+1)
			if size <= int64(cap(buf)) {
				return nil, errTooLarge
			}
			if !take(size - int64(cap(buf))) {
				return nil, errBusy
			}
			grown := make([]byte, len(buf), size)
			copy(grown, buf)
			buf = grown
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return nil, errTooLarge
		}
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// eofReader records whether a body was read to its end.
type eofReader struct {
	io.ReadCloser
	eof bool
}

func (e *eofReader) Read(p []byte) (int, error) {
	n, err := e.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) {
		e.eof = true
	}
	return n, err
}

// bodyBudget bounds the bytes held at once, in total and per client, so
// that one client cannot take what the others need.
type bodyBudget struct {
	total, perClient int64
	mu               sync.Mutex
	used             int64
	byClient         map[string]int64
}

func newBodyBudget(total, perClient int64) *bodyBudget {
	return &bodyBudget{total: total, perClient: perClient, byClient: map[string]int64{}}
}

// take takes n bytes for client, or reports that either bound would be
// passed.
func (b *bodyBudget) take(client string, n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.total || b.byClient[client]+n > b.perClient {
		return false
	}
	b.used += n
	b.byClient[client] += n
	return true
}

// give returns n bytes taken for client.
func (b *bodyBudget) give(client string, n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
	if b.byClient[client] -= n; b.byClient[client] <= 0 {
		delete(b.byClient, client)
	}
}

// clientOf names the client of a remote address: its IPv4 address, or the
// /64 of its IPv6 address (what one host usually holds).
func clientOf(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	if ip = ip.Unmap(); ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// signatureHeader reads the hex HMAC-SHA256 the provider sends.
func signatureHeader(provider string, h http.Header) ([]byte, error) {
	var v string
	switch provider {
	case GitHub:
		v = h.Get("X-Hub-Signature-256")
	case Gitea:
		v = h.Get("X-Gitea-Signature")
		if v == "" {
			v = h.Get("X-Forgejo-Signature")
		}
	case Generic:
		v = h.Get("X-Gitfleet-Signature")
	}
	if v == "" {
		return nil, errors.New("missing signature")
	}
	v = strings.TrimPrefix(v, "sha256=")
	sig, err := hex.DecodeString(v)
	if err != nil || len(sig) != sha256.Size {
		return nil, errors.New("malformed signature")
	}
	return sig, nil
}

// eventOf normalises the provider's event header to "push", "ping" or the
// provider's own name for other events.
func eventOf(provider string, h http.Header) string {
	switch provider {
	case GitHub:
		e := h.Get("X-GitHub-Event")
		if e == "ping" || e == "push" {
			return e
		}
		return "github:" + e
	case GitLab:
		switch e := h.Get("X-Gitlab-Event"); e {
		case "Push Hook", "Tag Push Hook", "System Hook":
			return "push"
		default:
			return "gitlab:" + e
		}
	case Gitea:
		e := h.Get("X-Gitea-Event")
		if e == "" {
			e = h.Get("X-Forgejo-Event")
		}
		if e == "push" {
			return e
		}
		return "gitea:" + e
	}
	return "push" // generic: every authenticated request is a push
}

func (w *Webhooks) log() *slog.Logger {
	if w.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return w.Log
}
