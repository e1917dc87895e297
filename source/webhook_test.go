package source

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

type fakeTarget struct {
	ref      string
	mu       sync.Mutex
	triggers int
}

func (f *fakeTarget) Tracks(ref string) bool { return ref == f.ref }
func (f *fakeTarget) Trigger()               { f.mu.Lock(); f.triggers++; f.mu.Unlock() }
func (f *fakeTarget) count() int             { f.mu.Lock(); defer f.mu.Unlock(); return f.triggers }

func sign(secret, body string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(body))
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// panicReader fails the test if the body is read at all.
type panicReader struct{ t *testing.T }

func (p panicReader) Read([]byte) (int, error) {
	p.t.Error("the body was read before the request was authenticated")
	return 0, io.EOF
}

func TestWebhooks(t *testing.T) {
	const secret = "s3cret"
	push := `{"ref":"refs/heads/main","after":"abc"}`
	other := `{"ref":"refs/heads/feature"}`
	tests := []struct {
		name     string
		provider string
		body     io.Reader
		headers  map[string]string
		length   int64 // -1: chunked, unknown length
		want     int
		result   string
		trigger  bool
	}{
		{"github push", GitHub, strings.NewReader(push), map[string]string{"X-Hub-Signature-256": sign(secret, push), "X-GitHub-Event": "push"}, 0, 202, "triggered", true},
		{"github other ref", GitHub, strings.NewReader(other), map[string]string{"X-Hub-Signature-256": sign(secret, other), "X-GitHub-Event": "push"}, 0, 202, "ignored", false},
		{"github ping", GitHub, strings.NewReader(`{}`), map[string]string{"X-Hub-Signature-256": sign(secret, `{}`), "X-GitHub-Event": "ping"}, 0, 200, "ignored", false},
		{"github bad signature", GitHub, strings.NewReader(push), map[string]string{"X-Hub-Signature-256": sign("wrong", push), "X-GitHub-Event": "push"}, 0, 401, "unauthorized", false},
		{"github signature of another body", GitHub, strings.NewReader(push), map[string]string{"X-Hub-Signature-256": sign(secret, other), "X-GitHub-Event": "push"}, 0, 401, "unauthorized", false},
		{"github missing signature: body never read", GitHub, panicReader{t}, map[string]string{"X-GitHub-Event": "push"}, -1, 401, "unauthorized", false},
		{"github malformed signature", GitHub, panicReader{t}, map[string]string{"X-Hub-Signature-256": "sha256=zz", "X-GitHub-Event": "push"}, -1, 401, "unauthorized", false},
		{"gitlab push", GitLab, strings.NewReader(push), map[string]string{"X-Gitlab-Token": secret, "X-Gitlab-Event": "Push Hook"}, 0, 202, "triggered", true},
		{"gitlab bad token: body never read", GitLab, panicReader{t}, map[string]string{"X-Gitlab-Token": "nope", "X-Gitlab-Event": "Push Hook"}, -1, 401, "unauthorized", false},
		{"gitea push", Gitea, strings.NewReader(push), map[string]string{"X-Gitea-Signature": strings.TrimPrefix(sign(secret, push), "sha256="), "X-Gitea-Event": "push"}, 0, 202, "triggered", true},
		{"gitea bad signature", Gitea, strings.NewReader(push), map[string]string{"X-Gitea-Signature": strings.TrimPrefix(sign("x", push), "sha256="), "X-Gitea-Event": "push"}, 0, 401, "unauthorized", false},
		{"generic push", Generic, strings.NewReader(push), map[string]string{"X-Gitfleet-Signature": sign(secret, push)}, 0, 202, "triggered", true},
		{"generic not json", Generic, strings.NewReader("ref=main"), map[string]string{"X-Gitfleet-Signature": sign(secret, "ref=main")}, 0, 400, "bad_request", false},
		{"oversized by content length: refused unread", GitHub, panicReader{t}, map[string]string{"X-Hub-Signature-256": sign(secret, push), "X-GitHub-Event": "push"}, MaxWebhookBody + 1, 413, "too_large", false},
		{"oversized while reading (chunked)", GitHub, bytes.NewReader(make([]byte, MaxWebhookBody+10)), map[string]string{"X-Hub-Signature-256": sign(secret, push), "X-GitHub-Event": "push"}, -1, 413, "too_large", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := &fakeTarget{ref: "refs/heads/main"}
			var results []string
			w := &Webhooks{
				Secrets: map[string][]byte{GitHub: []byte(secret), GitLab: []byte(secret), Gitea: []byte(secret), Generic: []byte(secret)},
				Target:  target,
				Count:   func(p, r string) { results = append(results, p+":"+r) },
			}
			req := httptest.NewRequest("POST", "/webhooks/"+tt.provider, tt.body)
			switch {
			case tt.length > 0:
				req.ContentLength = tt.length
			case tt.length < 0:
				req.ContentLength = -1
			}
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			w.Handler().ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Errorf("status %d (%s), want %d", rec.Code, strings.TrimSpace(rec.Body.String()), tt.want)
			}
			if got := target.count() > 0; got != tt.trigger {
				t.Errorf("triggered=%v, want %v", got, tt.trigger)
			}
			if len(results) != 1 || results[0] != tt.provider+":"+tt.result {
				t.Errorf("counted %v, want [%s:%s]", results, tt.provider, tt.result)
			}
		})
	}
}

func TestWebhookUnconfiguredProviderHasNoReceiver(t *testing.T) {
	w := &Webhooks{Secrets: map[string][]byte{GitHub: []byte("x")}, Target: &fakeTarget{}}
	rec := httptest.NewRecorder()
	w.Handler().ServeHTTP(rec, httptest.NewRequest("POST", "/webhooks/gitlab", strings.NewReader("{}")))
	if rec.Code != http.StatusNotFound {
		t.Errorf("gitlab without a secret: status %d, want 404", rec.Code)
	}
	rec = httptest.NewRecorder()
	w.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/webhooks/github", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: status %d, want 405", rec.Code)
	}
}
