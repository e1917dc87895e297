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

// TestGitWatchStallsOnRefusedCredentials: refused credentials are not
// tried again at every interval; a changed input (a credential file) has
// them read again and the poll succeeds.
func TestGitWatchStallsOnRefusedCredentials(t *testing.T) {
	root := t.TempDir()
	r := gittest.NewRemote(t, root, "fleet")
	r.Write(map[string]string{"f": "1"})
	c1 := r.Commit("one")
	r.Push()
	srv := gittest.Serve(t, root, "deploy", "s3cret-token")
	g, _ := newGit(t, srv.URL+"/fleet.git", GitRef{Branch: "main"})
	g.Interval, g.InputCheck, g.StallCap = 20*time.Millisecond, 20*time.Millisecond, time.Hour
	var mu sync.Mutex
	password, inputs := "wrong-password", "v1"
	g.Auth = &GitAuth{Username: "deploy", Password: password}
	g.Reauth = func() (*GitAuth, error) {
		mu.Lock()
		defer mu.Unlock()
		return &GitAuth{Username: "deploy", Password: password}, nil
	}
	g.Inputs = func() string { mu.Lock(); defer mu.Unlock(); return inputs }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var u updates
	go g.Watch(ctx, u.report)
	waitUntil(t, "the refusal", func() bool { return len(u.list()) == 1 })
	if err := u.list()[0].Err; classify(err) != ReasonAuth {
		t.Fatalf("first update: %v, want refused credentials", err)
	}
	before := srv.Requests()
	time.Sleep(300 * time.Millisecond) // 15 intervals
	if n := srv.Requests() - before; n != 0 || len(u.list()) != 1 {
		t.Fatalf("while stalled: %d requests to the remote, %d updates; want none and the one refusal", n, len(u.list()))
	}
	mu.Lock()
	password, inputs = "s3cret-token", "v2" // the credential file was fixed
	mu.Unlock()
	waitUntil(t, "the poll after the fix", func() bool {
		l := u.list()
		return len(l) == 2 && l[1].Snapshot != nil && l[1].Snapshot.Revision == c1
	})
}

// TestGitWatchDoesNotRetryARefusedCommit: a rewritten history refused by
// requireFastForward is reported once; the remote is listed at every
// interval, but the refused commit is not fetched or reported again, and
// the next commit the remote names is taken up.
func TestGitWatchDoesNotRetryARefusedCommit(t *testing.T) {
	root := t.TempDir()
	r := gittest.NewRemote(t, root, "fleet")
	r.Write(map[string]string{"f": "1"})
	c1 := r.Commit("one")
	r.Push()
	srv := gittest.Serve(t, root, "", "")
	g, m := newGit(t, srv.URL+"/fleet.git", GitRef{Branch: "main"})
	g.Interval, g.RequireFastForward = 20*time.Millisecond, true
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var u updates
	go g.Watch(ctx, u.report)
	waitUntil(t, "the first snapshot", func() bool { return len(u.list()) == 1 })

	r.Run("checkout", "-q", "--orphan", "rewritten")
	r.Write(map[string]string{"f": "rewritten"})
	r.Commit("rewritten")
	r.Run("branch", "-f", "main", "rewritten")
	r.Run("checkout", "-q", "main")
	r.Push()
	waitUntil(t, "the refusal", func() bool { return len(u.list()) == 2 })
	if err := u.list()[1].Err; classify(err) != ReasonNonFastForward {
		t.Fatalf("update: %v, want the rewritten history refused", err)
	}
	m.mu.Lock()
	polls := len(m.fetches)
	m.mu.Unlock()
	time.Sleep(300 * time.Millisecond)
	m.mu.Lock()
	polls = len(m.fetches) - polls
	m.mu.Unlock()
	if polls < 3 || len(u.list()) != 2 {
		t.Errorf("while refused: %d polls, %d updates; want the remote listed at every interval and nothing reported again", polls, len(u.list()))
	}
	// Back to a commit that descends from c1: taken up.
	r.Run("reset", "-q", "--hard", c1)
	r.Write(map[string]string{"f": "2"})
	c2 := r.Commit("two")
	r.Push()
	waitUntil(t, "the next commit", func() bool {
		l := u.list()
		return len(l) == 3 && l[2].Snapshot != nil && l[2].Snapshot.Revision == c2
	})
}
