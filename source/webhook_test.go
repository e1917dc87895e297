package source

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"
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

// slowBody opens a connection from local (an address of 127.0.0.0/8, or ""
// for any), sends the headers of a GitHub push with a wrong signature and
// a body of length bytes, and then one byte of it every interval, until
// stop is closed or the server answers. It reports the status the server
// answered with, 0 when it did not answer.
func slowBody(t *testing.T, addr, local string, length int, interval time.Duration, stop <-chan struct{}) (status <-chan int, sending func() bool) {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "POST /webhooks/github HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\nX-Hub-Signature-256: sha256=%s\r\nContent-Length: %d\r\n\r\n", strings.Repeat("ab", 32), length)
	out := make(chan int, 1)
	var mu sync.Mutex
	open := true
	go func() {
		defer func() { mu.Lock(); open = false; mu.Unlock() }()
		defer conn.Close()
		answered := make(chan int, 1)
		go func() {
			conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				answered <- 0
				return
			}
			resp.Body.Close()
			answered <- resp.StatusCode
		}()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for sent := 0; ; {
			select {
			case code := <-answered:
				out <- code
				return
			case <-stop:
				out <- 0
				return
			case <-tick.C:
				if sent < length-1 { // never the last byte
					conn.Write([]byte("{"))
					sent++
				}
			}
		}
	}()
	return out, func() bool { mu.Lock(); defer mu.Unlock(); return open }
}

func signedPush(t *testing.T, url, secret string) (int, time.Duration) {
	t.Helper()
	push := `{"ref":"refs/heads/main"}`
	req, _ := http.NewRequest("POST", url+"/webhooks/github", strings.NewReader(push))
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-Hub-Signature-256", sign(secret, push))
	start := time.Now()
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, took
}

// TestWebhookSlowBodiesDoNotStarveSignedPush: 24 connections from the
// same address as the forge send a wrong signature and then their bodies
// one byte at a time. A signed push is accepted while they do, and each of
// them is cut off when its body deadline passes.
func TestWebhookSlowBodiesDoNotStarveSignedPush(t *testing.T) {
	const secret = "s3cret"
	target := &fakeTarget{ref: "refs/heads/main"}
	var mu sync.Mutex
	results := map[string]int{}
	w := &Webhooks{
		Secrets: map[string][]byte{GitHub: []byte(secret)}, Target: target,
		BodyTimeout: 3 * time.Second,
		Count:       func(_, r string) { mu.Lock(); results[r]++; mu.Unlock() },
	}
	srv := httptest.NewServer(w.Handler())
	defer srv.Close()
	stop := make(chan struct{})
	defer close(stop)
	const attackers = 24
	var statuses []<-chan int
	var sending []func() bool
	for range attackers {
		st, open := slowBody(t, srv.Listener.Addr().String(), "127.0.0.1", 4096, 100*time.Millisecond, stop)
		statuses, sending = append(statuses, st), append(sending, open)
	}
	time.Sleep(500 * time.Millisecond) // every attacker is in its body

	code, took := signedPush(t, srv.URL, secret)
	open := 0
	for _, s := range sending {
		if s() {
			open++
		}
	}
	t.Logf("signed push answered %d in %s while %d slow bodies were being sent", code, took.Round(time.Millisecond), open)
	if code != http.StatusAccepted || target.count() != 1 {
		t.Fatalf("signed push during the attack: status %d, %d triggers; want 202 and 1", code, target.count())
	}
	if open < attackers {
		t.Fatalf("only %d of %d attackers were still sending when the push was answered: the test did not measure under attack", open, attackers)
	}
	// Every slow body is cut off by its deadline (3s), not left to run.
	deadline := time.After(10 * time.Second)
	for i, st := range statuses {
		select {
		case code := <-st:
			if code != http.StatusRequestTimeout {
				t.Errorf("attacker %d: status %d, want 408", i, code)
			}
		case <-deadline:
			t.Fatalf("attacker %d still connected 10s after its body deadline of 3s", i)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if results["timeout"] != attackers || results["triggered"] != 1 {
		t.Errorf("counted %v, want %d timeout and 1 triggered", results, attackers)
	}
}

// TestWebhookMemoryPerClient: a client that holds its share of body memory
// (large bodies, stalled before their end) gets 429 for more; another
// client does not.
func TestWebhookMemoryPerClient(t *testing.T) {
	const secret = "s3cret"
	target := &fakeTarget{ref: "refs/heads/main"}
	w := &Webhooks{
		Secrets: map[string][]byte{GitHub: []byte(secret)}, Target: target,
		ClientMemory: 256 << 10, Memory: 1 << 20, BodyTimeout: 20 * time.Second,
	}
	srv := httptest.NewServer(w.Handler())
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	stop := make(chan struct{})
	defer close(stop)

	// 127.0.0.2 sends 200 KiB of a 1 MiB body and stalls: it holds 256 KiB.
	conn, err := net.DialTCP("tcp", &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, net.TCPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /webhooks/github HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\nX-Hub-Signature-256: sha256=%s\r\nContent-Length: %d\r\n\r\n", strings.Repeat("ab", 32), MaxWebhookBody)
	conn.Write(bytes.Repeat([]byte(" "), 200<<10))
	time.Sleep(300 * time.Millisecond)

	// Its next request finds its share spent as soon as its body grows.
	st, _ := slowBody(t, addr, "127.0.0.2", 4096, time.Millisecond, stop)
	select {
	case code := <-st:
		if code != http.StatusTooManyRequests {
			t.Errorf("second body of 127.0.0.2: status %d, want 429", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("second body of 127.0.0.2: no answer within 10s, want 429")
	}
	// 127.0.0.1 is not affected.
	if code, _ := signedPush(t, srv.URL, secret); code != http.StatusAccepted {
		t.Errorf("signed push from 127.0.0.1: status %d, want 202", code)
	}
}

func TestReadBounded(t *testing.T) {
	tests := []struct {
		name    string
		size    int
		limit   int64
		budget  int64
		wantErr error
		maxHeld int64
	}{
		{"empty", 0, 100, 1 << 20, nil, 1024},
		{"small body holds 1 KiB", 10, 1 << 20, 1 << 20, nil, 1024},
		{"grows by doubling", 5000, 1 << 20, 1 << 20, nil, 8192},
		{"exactly the limit", 4096, 4096, 1 << 20, nil, 4097},
		{"one byte over", 4097, 4096, 1 << 20, errTooLarge, 4097},
		{"budget spent", 5000, 1 << 20, 4096, errBusy, 4096},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var held int64
			body, err := readBounded(iotest.OneByteReader(bytes.NewReader(make([]byte, tt.size))), tt.limit, func(n int64) bool {
				if held+n > tt.budget {
					return false
				}
				held += n
				return true
			})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if err == nil && len(body) != tt.size {
				t.Errorf("read %d bytes, want %d", len(body), tt.size)
			}
			if held > tt.maxHeld {
				t.Errorf("took %d bytes for a %d-byte body, want at most %d", held, tt.size, tt.maxHeld)
			}
		})
	}
}

func TestClientOf(t *testing.T) {
	for addr, want := range map[string]string{
		"192.0.2.7:4431":             "192.0.2.7",
		"[2001:db8:1:2:3:4:5:6]:443": "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:80":  "2001:db8:1:2::/64",
		"[::ffff:192.0.2.7]:1":       "192.0.2.7",
		"not an address":             "not an address",
	} {
		if got := clientOf(addr); got != want {
			t.Errorf("clientOf(%q) = %q, want %q", addr, got, want)
		}
	}
}
