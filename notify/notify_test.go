package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

type call struct {
	Path    string
	Headers http.Header
	Body    map[string]any
	Raw     []byte
}

// recorder is a local HTTP server that records the calls it gets.
type recorder struct {
	mu    sync.Mutex
	calls []call
	fail  int // the first fail calls get 502
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	raw, _ := io.ReadAll(req.Body)
	var body map[string]any
	json.Unmarshal(raw, &body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, call{Path: req.URL.EscapedPath(), Headers: req.Header.Clone(), Body: body, Raw: raw})
	if r.fail > 0 {
		r.fail--
		http.Error(w, "try again", http.StatusBadGateway)
		return
	}
	w.WriteHeader(http.StatusCreated)
}

func (r *recorder) get() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]call(nil), r.calls...)
}

const sha = "0123456789abcdef0123456789abcdef01234567"

func events() []Event {
	t := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	base := Event{Environment: "prod", App: "web", Release: "v2-abc", Strategy: "rolling", Revision: sha, Author: "Ada <ada@example.com>", Servers: []string{"web-1", "web-2"}, Time: t}
	started, ok, failed, drift := base, base, base, base
	started.Kind, ok.Kind, failed.Kind, drift.Kind = RolloutStarted, RolloutSucceeded, RolloutFailed, DriftDetected
	failed.Failed, failed.Error = []string{"web-2"}, "web-2: health check failed"
	drift.Drift, drift.Servers = "content", []string{"web-1"}
	return []Event{started, ok, failed, drift}
}

func deliver(t *testing.T, targets ...Target) {
	n := &Notifier{Targets: targets, Log: slog.New(slog.DiscardHandler), Backoff: time.Millisecond}
	for _, e := range events() {
		n.Notify(e)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n.Close(ctx)
}

func TestWebhookAndSlack(t *testing.T) {
	rec := &recorder{fail: 1}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	secret := []byte("s3cret")
	deliver(t, &Webhook{URL: srv.URL + "/hook", Secret: secret}, &Slack{URL: srv.URL + "/slack/T000/B000/XXXX", Events: []string{RolloutFailed, DriftDetected}})
	calls := rec.get()
	var hooks, slack []call
	for _, c := range calls {
		if c.Path == "/hook" {
			hooks = append(hooks, c)
		} else {
			slack = append(slack, c)
		}
	}
	// The first webhook call failed (502) and was retried.
	if len(hooks) != 5 || len(slack) != 2 {
		t.Fatalf("got %d webhook and %d slack calls, want 5 (4 events, one retry) and 2 (failure and drift)", len(hooks), len(slack))
	}
	kinds := []string{}
	for _, c := range hooks[1:] {
		kinds = append(kinds, c.Body["kind"].(string))
		mac := hmac.New(sha256.New, secret)
		mac.Write(c.Raw)
		if got := c.Headers.Get("X-Gitfleet-Signature-256"); got != "sha256="+hex.EncodeToString(mac.Sum(nil)) {
			t.Errorf("signature %q does not match the body", got)
		}
		if c.Body["environment"] != "prod" || c.Body["app"] != "web" || c.Body["revision"] != sha {
			t.Errorf("webhook body %v", c.Body)
		}
	}
	if strings.Join(kinds, ",") != "rollout-started,rollout-succeeded,rollout-failed,drift-detected" {
		t.Errorf("webhook events in order: %v", kinds)
	}
	if text := slack[0].Body["text"].(string); !strings.Contains(text, "rollout of v2-abc to prod/web failed on 1 of 2 servers: web-2: health check failed") || !strings.Contains(text, "Ada") {
		t.Errorf("slack text: %q", text)
	}
	if text := slack[1].Body["text"].(string); !strings.Contains(text, "prod/web drifted from the desired state (content) on web-1") {
		t.Errorf("slack drift text: %q", text)
	}
}

func TestCommitStatuses(t *testing.T) {
	tests := []struct {
		provider, path, auth, authValue, stateKey, nameKey string
		states                                             []string
	}{
		{"github", "/repos/acme/deploy/statuses/" + sha, "Authorization", "Bearer tok", "state", "context", []string{"pending", "success", "failure"}},
		{"gitea", "/repos/acme/deploy/statuses/" + sha, "Authorization", "token tok", "state", "context", []string{"pending", "success", "failure"}},
		{"gitlab", "/projects/acme%2Fdeploy/statuses/" + sha, "Private-Token", "tok", "state", "name", []string{"running", "success", "failed"}},
	}
	for _, tt := range tests {
		t.Run(tt.provider, func(t *testing.T) {
			rec := &recorder{}
			srv := httptest.NewServer(rec)
			defer srv.Close()
			deliver(t, &CommitStatus{Provider: tt.provider, APIURL: srv.URL + "/", Repository: "acme/deploy", Token: "tok"})
			calls := rec.get()
			if len(calls) != 3 {
				t.Fatalf("%d calls, want 3 (no status for drift)", len(calls))
			}
			for i, c := range calls {
				if c.Path != tt.path || c.Headers.Get(tt.auth) != tt.authValue {
					t.Errorf("call %d: %s with %s=%q", i, c.Path, tt.auth, c.Headers.Get(tt.auth))
				}
				if c.Body[tt.stateKey] != tt.states[i] || c.Body[tt.nameKey] != "gitfleet/prod/web" || c.Body["description"] == "" {
					t.Errorf("call %d body %v, want state %s", i, c.Body, tt.states[i])
				}
			}
		})
	}
	// A directory source has no commit: no status.
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	cs := &CommitStatus{Provider: "github", APIURL: srv.URL, Repository: "acme/deploy", Token: "tok"}
	e := events()[0]
	e.Revision = "d1g3st"
	if err := cs.Send(context.Background(), http.DefaultClient, e); err != nil || len(rec.get()) != 0 {
		t.Errorf("a non-commit revision: %v, %d calls", err, len(rec.get()))
	}
}

func TestErrorsHideTheURL(t *testing.T) {
	w := &Webhook{URL: "http://127.0.0.1:1/services/T0/B0/secret-part"}
	err := w.Send(context.Background(), &http.Client{Timeout: time.Second}, events()[0])
	if err == nil || strings.Contains(err.Error(), "secret-part") {
		t.Errorf("error %v must not show the URL's path", err)
	}
}

// failing fails every send.
type failing struct{ calls int }

func (f *failing) Name() string      { return "failing" }
func (f *failing) Wants(string) bool { return true }
func (f *failing) Send(context.Context, *http.Client, Event) error {
	f.calls++
	return errors.New("502 Bad Gateway")
}

// TestRetriesWaitLongerEachTime: a receiver that keeps failing is tried
// Attempts times, with waits that double from Backoff up to MaxBackoff,
// each jittered by at most ±20%.
func TestRetriesWaitLongerEachTime(t *testing.T) {
	f := &failing{}
	var waits []time.Duration
	n := &Notifier{Targets: []Target{f}, Log: slog.New(slog.DiscardHandler), Attempts: 6, Backoff: time.Second, MaxBackoff: 10 * time.Second}
	n.sleep = func(d time.Duration) { waits = append(waits, d) }
	n.Notify(events()[0])
	n.Close(context.Background())
	if f.calls != 6 || len(waits) != 5 {
		t.Fatalf("got %d attempts and %d waits, want 6 and 5", f.calls, len(waits))
	}
	base := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second}
	for i, w := range waits {
		lo, hi := base[i]*8/10, base[i]*12/10
		if w < lo || w > hi {
			t.Errorf("wait %d: %s, want %s..%s", i+1, w, lo, hi)
		}
	}
}
