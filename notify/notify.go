// Package notify tells people and forges what gitfleet does: a generic
// JSON webhook, a Slack-compatible webhook, and commit statuses on GitHub,
// GitLab and Gitea for the deployed revision. Deliveries are asynchronous,
// bounded, retried with a growing, jittered wait, and never block a
// rollout.
package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/gitfleet/gitfleet/internal/retry"
)

// The kinds of event.
const (
	RolloutStarted   = "rollout-started"
	RolloutSucceeded = "rollout-succeeded"
	RolloutFailed    = "rollout-failed"
	DriftDetected    = "drift-detected"
)

// Kinds lists every kind of event.
var Kinds = []string{RolloutStarted, RolloutSucceeded, RolloutFailed, DriftDetected}

// Event is what happened.
type Event struct {
	Kind        string    `json:"kind"`
	Environment string    `json:"environment"`
	App         string    `json:"app,omitempty"`
	Lane        string    `json:"lane,omitempty"`
	Release     string    `json:"release,omitempty"`
	Strategy    string    `json:"strategy,omitempty"`
	Revision    string    `json:"revision"`
	Author      string    `json:"author,omitempty"`
	Servers     []string  `json:"servers,omitempty"`
	Failed      []string  `json:"failed,omitempty"`
	Drift       string    `json:"drift,omitempty"` // the kind of drift
	Error       string    `json:"error,omitempty"`
	Time        time.Time `json:"time"`
}

// Summary is one line for people.
func (e Event) Summary() string {
	key := e.Environment
	if e.App != "" {
		key += "/" + e.App
	}
	switch e.Kind {
	case RolloutStarted:
		return fmt.Sprintf("gitfleet: %s rollout of %s to %s started (%d servers, revision %.12s)", e.Strategy, e.Release, key, len(e.Servers), e.Revision)
	case RolloutSucceeded:
		return fmt.Sprintf("gitfleet: %s is on %s (%d servers, revision %.12s)", key, e.Release, len(e.Servers), e.Revision)
	case RolloutFailed:
		return fmt.Sprintf("gitfleet: rollout of %s to %s failed on %d of %d servers: %s", e.Release, key, len(e.Failed), len(e.Servers), e.Error)
	case DriftDetected:
		return fmt.Sprintf("gitfleet: %s drifted from the desired state (%s) on %s", key, e.Drift, strings.Join(e.Servers, ", "))
	}
	return "gitfleet: " + e.Kind + " " + key
}

// Target receives events.
type Target interface {
	Name() string
	Wants(kind string) bool
	Send(ctx context.Context, c *http.Client, e Event) error
}

// Webhook posts the event as JSON, signed with HMAC-SHA256 of the body in
// X-Gitfleet-Signature-256 ("sha256=<hex>") when a secret is set.
type Webhook struct {
	URL    string
	Secret []byte
	Events []string // empty: every kind
}

func (w *Webhook) Name() string           { return "webhook " + redact(w.URL) }
func (w *Webhook) Wants(kind string) bool { return wants(w.Events, kind) }

func (w *Webhook) Send(ctx context.Context, c *http.Client, e Event) error {
	body, _ := json.Marshal(e)
	h := map[string]string{"Content-Type": "application/json", "X-Gitfleet-Event": e.Kind}
	if len(w.Secret) > 0 {
		mac := hmac.New(sha256.New, w.Secret)
		mac.Write(body)
		h["X-Gitfleet-Signature-256"] = "sha256=" + hex.EncodeToString(mac.Sum(nil))
	}
	return post(ctx, c, w.URL, body, h)
}

// Slack posts a Slack-compatible incoming-webhook message.
type Slack struct {
	URL    string
	Events []string
}

func (s *Slack) Name() string           { return "slack " + redact(s.URL) }
func (s *Slack) Wants(kind string) bool { return wants(s.Events, kind) }

func (s *Slack) Send(ctx context.Context, c *http.Client, e Event) error {
	text := e.Summary()
	if e.Author != "" {
		text += " — " + e.Author
	}
	body, _ := json.Marshal(map[string]string{"text": text})
	return post(ctx, c, s.URL, body, map[string]string{"Content-Type": "application/json"})
}

// CommitStatus sets a status on the revision's commit in the forge of
// the desired-state repository: pending when a rollout starts, success or
// failure when it ends. Context: gitfleet/<environment>/<app>.
type CommitStatus struct {
	Provider   string // github, gitlab or gitea
	APIURL     string // https://api.github.com, https://gitlab.example.com/api/v4, https://gitea.example.com/api/v1
	Repository string // owner/name (GitLab: the project's path or ID)
	Token      string
}

var shaRE = regexp.MustCompile(`^[0-9a-f]{40}$`)

func (s *CommitStatus) Name() string { return s.Provider + " commit status " + s.Repository }

func (s *CommitStatus) Wants(kind string) bool { return kind != DriftDetected }

func (s *CommitStatus) Send(ctx context.Context, c *http.Client, e Event) error {
	if !shaRE.MatchString(e.Revision) {
		return nil // not a Git commit (a directory source)
	}
	context := "gitfleet/" + e.Environment
	if e.App != "" {
		context += "/" + e.App
	}
	desc := e.Summary()
	if len(desc) > 140 {
		desc = desc[:139] + "…"
	}
	api := strings.TrimSuffix(s.APIURL, "/")
	switch s.Provider {
	case "github", "gitea":
		state := map[string]string{RolloutStarted: "pending", RolloutSucceeded: "success", RolloutFailed: "failure"}[e.Kind]
		body, _ := json.Marshal(map[string]string{"state": state, "description": desc, "context": context})
		h := map[string]string{"Content-Type": "application/json"}
		if s.Provider == "github" {
			h["Authorization"] = "Bearer " + s.Token
			h["Accept"] = "application/vnd.github+json"
		} else {
			h["Authorization"] = "token " + s.Token
		}
		return post(ctx, c, api+"/repos/"+s.Repository+"/statuses/"+e.Revision, body, h)
	case "gitlab":
		state := map[string]string{RolloutStarted: "running", RolloutSucceeded: "success", RolloutFailed: "failed"}[e.Kind]
		body, _ := json.Marshal(map[string]string{"state": state, "description": desc, "name": context})
		return post(ctx, c, api+"/projects/"+url.PathEscape(s.Repository)+"/statuses/"+e.Revision, body,
			map[string]string{"Content-Type": "application/json", "PRIVATE-TOKEN": s.Token})
	}
	return fmt.Errorf("unknown commit status provider %q", s.Provider)
}

func wants(events []string, kind string) bool {
	if len(events) == 0 {
		return true
	}
	for _, e := range events {
		if e == kind {
			return true
		}
	}
	return false
}

func post(ctx context.Context, c *http.Client, u string, body []byte, headers map[string]string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("POST %s: %v", redact(u), err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("User-Agent", "gitfleet")
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %v", redact(u), stripURL(err))
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("POST %s: %s", redact(u), resp.Status)
	}
	return nil
}

// redact keeps scheme and host of a URL: webhook URLs are secrets.
func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(url)"
	}
	return p.Scheme + "://" + p.Host + "/…"
}

func stripURL(err error) error {
	var ue *url.Error
	if e, ok := err.(*url.Error); ok {
		ue = e
		return fmt.Errorf("%v", ue.Err)
	}
	return err
}

// Notifier delivers events to targets from a bounded queue.
type Notifier struct {
	Targets []Target
	Log     *slog.Logger
	Client  *http.Client
	// Attempts per delivery (default 5). Between them the wait grows:
	// Backoff (default 1s) doubled at every attempt, up to MaxBackoff
	// (default 30s), each jittered by ±20%.
	Attempts   int
	Backoff    time.Duration
	MaxBackoff time.Duration

	once  sync.Once
	queue chan Event
	done  chan struct{}
	sleep func(time.Duration) // time.Sleep; tests record the waits
}

// queueSize bounds the events waiting; beyond it events are dropped and
// logged, so that a dead receiver cannot grow the daemon's memory.
const queueSize = 1000

func (n *Notifier) start() {
	n.once.Do(func() {
		if n.Client == nil {
			n.Client = &http.Client{Timeout: 10 * time.Second}
		}
		if n.Attempts <= 0 {
			n.Attempts = 5
		}
		if n.Backoff <= 0 {
			n.Backoff = time.Second
		}
		if n.MaxBackoff <= 0 {
			n.MaxBackoff = 30 * time.Second
		}
		if n.sleep == nil {
			n.sleep = time.Sleep
		}
		n.queue = make(chan Event, queueSize)
		n.done = make(chan struct{})
		go n.run()
	})
}

// Notify queues the event; it never blocks.
func (n *Notifier) Notify(e Event) {
	if n == nil || len(n.Targets) == 0 {
		return
	}
	n.start()
	select {
	case n.queue <- e:
	default:
		n.Log.Warn("notification dropped: too many waiting", "kind", e.Kind, "environment", e.Environment, "app", e.App)
	}
}

// Close delivers what is queued (bounded by ctx) and stops.
func (n *Notifier) Close(ctx context.Context) {
	if n == nil || n.queue == nil {
		return
	}
	close(n.queue)
	select {
	case <-n.done:
	case <-ctx.Done():
	}
}

func (n *Notifier) run() {
	defer close(n.done)
	for e := range n.queue {
		for _, t := range n.Targets {
			if t.Wants(e.Kind) {
				n.deliver(t, e)
			}
		}
	}
}

// deliver sends an event to a target, each attempt bounded by 15s, with a
// growing, jittered wait between attempts.
func (n *Notifier) deliver(t Target, e Event) {
	b := retry.Backoff{Base: n.Backoff, Cap: n.MaxBackoff, Jitter: 0.2}
	var err error
	for a := 1; a <= n.Attempts; a++ {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		err = t.Send(ctx, n.Client, e)
		cancel()
		if err == nil {
			return
		}
		if a < n.Attempts {
			n.sleep(b.Delay(a))
		}
	}
	n.Log.Warn("notification failed", "target", t.Name(), "kind", e.Kind, "attempts", n.Attempts, "err", err)
}
