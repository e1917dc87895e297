package retry

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestKindOf(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	base := errors.New("boom")
	tests := []struct {
		name string
		err  error
		want Kind
	}{
		{"plain error", base, KindTransient},
		{"deadline", context.DeadlineExceeded, KindTransient},
		{"stalling", Stalling(base), KindStalling},
		{"stalling wrapped", fmt.Errorf("poll: %w", Stalling(base)), KindStalling},
		{"waiting", Waiting(base, now), KindWaiting},
		{"outermost wins", Transient(fmt.Errorf("x: %w", Stalling(base))), KindTransient},
	}
	for _, tt := range tests {
		if got := KindOf(tt.err); got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, got, tt.want)
		}
	}
	if Stalling(nil) != nil || Waiting(nil, now) != nil || Transient(nil) != nil {
		t.Error("a nil error did not stay nil")
	}
	if !errors.Is(Stalling(base), base) {
		t.Error("Stalling hides the error it wraps")
	}
}

func TestBackoffGrowsAndIsCapped(t *testing.T) {
	b := Backoff{Base: 2 * time.Second, Cap: 30 * time.Second, Jitter: 0.2}
	want := []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second}
	for i, w := range want {
		if got := b.delay(i+1, 0.5); got != w {
			t.Errorf("failure %d: got %s, want %s", i+1, got, w)
		}
	}
	if lo, hi := b.delay(1, 0), b.delay(1, 1); lo != 1600*time.Millisecond || hi != 2400*time.Millisecond {
		t.Errorf("jitter of the first delay: got %s..%s, want 1.6s..2.4s", lo, hi)
	}
}

func TestPolicyAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := Policy{Backoff: Backoff{Base: time.Second, Cap: time.Minute}}
	if got := p.After(Stalling(errors.New("auth")), 1, now); got != DefaultStallCap {
		t.Errorf("stalling: got %s, want %s", got, DefaultStallCap)
	}
	if got := p.After(Waiting(errors.New("window"), now.Add(time.Hour)), 1, now); got != time.Hour {
		t.Errorf("waiting: got %s, want 1h", got)
	}
	if got := p.After(errors.New("refused"), 3, now); got != 4*time.Second {
		t.Errorf("transient, third failure: got %s, want 4s", got)
	}
}
