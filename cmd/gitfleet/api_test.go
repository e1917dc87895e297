package main

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestAPIAuthIdentify(t *testing.T) {
	a := newAPIAuth(slog.New(slog.DiscardHandler), map[string]string{"ci": "ci-token-0123456789", "ops": "ops-token-0123456789"})
	tests := []struct {
		header, want, problem string
	}{
		{"", "", "missing bearer token"},
		{"Bearer", "", "missing bearer token"},
		{"Bearer ", "", "missing bearer token"},
		{"Basic ci-token-0123456789", "", "missing bearer token"},
		{"ci-token-0123456789", "", "missing bearer token"},
		{"Bearer ci-token-012345678", "", "invalid token"},
		{"Bearer ci-token-01234567890", "", "invalid token"},
		{"Bearer ci-token-0123456789", "ci", ""},
		{"bearer ops-token-0123456789", "ops", ""},
		{"BEARER   ops-token-0123456789 ", "ops", ""},
	}
	for _, tt := range tests {
		id, problem := a.identify(tt.header)
		if id.Token != tt.want || problem != tt.problem {
			t.Errorf("identify(%q) = %q, %q; want %q, %q", tt.header, id.Token, problem, tt.want, tt.problem)
		}
	}
}

func TestAPIAuthRequire(t *testing.T) {
	a := newAPIAuth(slog.New(slog.DiscardHandler), map[string]string{"ci": "ci-token-0123456789"})
	var got apiIdentity
	h := a.require("sync", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = identityOf(r.Context())
		w.WriteHeader(http.StatusAccepted)
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/api/v1/sync", nil))
	if rec.Code != http.StatusUnauthorized || rec.Header().Get("WWW-Authenticate") != `Bearer realm="gitfleet"` || got.Token != "" {
		t.Errorf("no token: %d %q, handler saw %q; want 401, Bearer, not called", rec.Code, rec.Header().Get("WWW-Authenticate"), got.Token)
	}
	req := httptest.NewRequest("POST", "/api/v1/sync", nil)
	req.Header.Set("Authorization", "Bearer ci-token-0123456789")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusAccepted || got.Token != "ci" {
		t.Errorf("right token: %d, identity %q; want 202, ci", rec.Code, got.Token)
	}
}

// TestCoalescer: a burst triggers once at once and once at the end of the
// gap; a request after a quiet gap triggers at once.
func TestCoalescer(t *testing.T) {
	var triggers atomic.Int64
	c := &coalescer{trigger: func() { triggers.Add(1) }, gap: 500 * time.Millisecond, now: time.Now}
	var wg sync.WaitGroup
	immediate := atomic.Int64{}
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 125 {
				if c.request() {
					immediate.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if n := triggers.Load(); n != 1 || immediate.Load() != 1 {
		t.Fatalf("1,000 requests at once: %d triggers (%d immediate), want 1 until the gap ends", n, immediate.Load())
	}
	time.Sleep(700 * time.Millisecond)
	if n := triggers.Load(); n != 2 {
		t.Fatalf("after the gap: %d triggers, want 2 (the burst's requests after the first)", n)
	}
	time.Sleep(600 * time.Millisecond)
	if !c.request() || triggers.Load() != 3 {
		t.Errorf("a request after a quiet gap: %d triggers, want 3, at once", triggers.Load())
	}
}
