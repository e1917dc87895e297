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
	"net/http"
	"strings"
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

// maxWebhooksInFlight bounds the bodies held in memory at once.
const maxWebhooksInFlight = 8

// Target is what a push moves: the Git source.
type Target interface {
	Tracks(ref string) bool
	Trigger()
}

// Webhooks receives push notifications and turns a push to the followed
// reference into an immediate poll. The signature or token is checked
// before anything in the body is parsed; bodies are bounded in size, and
// requests in number (one poll absorbs any burst).
type Webhooks struct {
	// Secrets by provider: the HMAC key (GitHub, Gitea, generic) or the
	// token (GitLab). A provider without a secret has no receiver.
	Secrets map[string][]byte
	Target  Target
	Log     *slog.Logger
	// Count records each request's result; nil records nothing.
	Count func(provider, result string)

	inFlight chan struct{}
}

// Handler serves POST /webhooks/<provider> for each configured provider.
func (w *Webhooks) Handler() http.Handler {
	w.inFlight = make(chan struct{}, maxWebhooksInFlight)
	mux := http.NewServeMux()
	for _, p := range []string{GitHub, GitLab, Gitea, Generic} {
		if len(w.Secrets[p]) == 0 {
			continue
		}
		mux.HandleFunc("POST /webhooks/"+p, func(rw http.ResponseWriter, r *http.Request) {
			result, code, msg := w.serve(p, r)
			if w.Count != nil {
				w.Count(p, result)
			}
			w.log().Info("webhook", "provider", p, "result", result, "status", code, "remote", r.RemoteAddr)
			rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
			rw.WriteHeader(code)
			io.WriteString(rw, msg+"\n")
		})
	}
	return mux
}

// serve authenticates, bounds, parses and acts on one request.
func (w *Webhooks) serve(provider string, r *http.Request) (result string, code int, msg string) {
	if r.ContentLength > MaxWebhookBody {
		return "too_large", http.StatusRequestEntityTooLarge, "body too large"
	}
	select {
	case w.inFlight <- struct{}{}:
		defer func() { <-w.inFlight }()
	default:
		return "busy", http.StatusTooManyRequests, "busy"
	}
	secret := w.Secrets[provider]

	// Headers first: a request without credentials is refused before its
	// body is read.
	var sig []byte
	switch provider {
	case GitLab:
		tok := r.Header.Get("X-Gitlab-Token")
		if tok == "" || subtle.ConstantTimeCompare([]byte(tok), secret) != 1 {
			return "unauthorized", http.StatusUnauthorized, "bad token"
		}
	case GitHub, Gitea, Generic:
		var err error
		if sig, err = signatureHeader(provider, r.Header); err != nil {
			return "unauthorized", http.StatusUnauthorized, err.Error()
		}
	}

	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, MaxWebhookBody))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return "too_large", http.StatusRequestEntityTooLarge, "body too large"
	}
	if err != nil {
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
