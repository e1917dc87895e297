package source

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/gittest"
)

type updates struct {
	mu  sync.Mutex
	all []Update
}

func (u *updates) report(up Update) { u.mu.Lock(); u.all = append(u.all, up); u.mu.Unlock() }
func (u *updates) list() []Update {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]Update(nil), u.all...)
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestGitWatchCoalescesTriggers sends a burst of triggers after a push and
// expects the new revision with at most two polls for the whole burst.
func TestGitWatchCoalescesTriggers(t *testing.T) {
	root := t.TempDir()
	r := gittest.NewRemote(t, root, "fleet")
	r.Write(map[string]string{"f": "1"})
	r.Commit("one")
	r.Push()
	srv := gittest.Serve(t, root, "", "")
	g, m := newGit(t, srv.URL+"/fleet.git", GitRef{Branch: "main"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var u updates
	done := make(chan error)
	go func() { done <- g.Watch(ctx, u.report) }()
	waitUntil(t, "the first snapshot", func() bool { return len(u.list()) == 1 })

	c2 := func() string { r.Write(map[string]string{"f": "2"}); return r.Commit("two") }()
	r.Push()
	m.mu.Lock()
	before := len(m.fetches)
	m.mu.Unlock()
	for i := 0; i < 50; i++ {
		g.Trigger()
	}
	waitUntil(t, "the pushed revision", func() bool {
		l := u.list()
		return len(l) == 2 && l[1].Snapshot != nil && l[1].Snapshot.Revision == c2
	})
	time.Sleep(100 * time.Millisecond) // room for a stray extra poll
	m.mu.Lock()
	polls := len(m.fetches) - before
	m.mu.Unlock()
	if polls < 1 || polls > 2 {
		t.Errorf("50 triggers caused %d polls, want 1 or 2", polls)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Watch returned %v after cancel, want nil", err)
	}
}

// TestGitWatchBacksOff checks the retry delays after failed polls: doubling
// from 2s with ±20% jitter, capped at the poll interval.
func TestGitWatchBacksOff(t *testing.T) {
	for failures, want := range map[int][2]time.Duration{
		1:  {1600 * time.Millisecond, 2400 * time.Millisecond},
		3:  {6400 * time.Millisecond, 9600 * time.Millisecond},
		10: {48 * time.Second, 72 * time.Second}, // capped at the interval
	} {
		for i := 0; i < 20; i++ {
			if d := backoff(failures, time.Minute); d < want[0] || d > want[1] {
				t.Fatalf("backoff(%d) = %s, want within %s..%s", failures, d, want[0], want[1])
			}
		}
	}
}
