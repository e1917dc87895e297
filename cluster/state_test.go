package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/etcdtest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// owning starts replicas a and b on envs and waits until each owns one,
// returning them in the order (owner of envs[0], the other).
func owning(t *testing.T, c *etcdtest.Cluster, envs []string) (*Replica, *Replica) {
	t.Helper()
	rs := settle(t, c, "/t", 3*time.Second, envs, "a", "b")
	eventually(t, 20*time.Second, "1/1", func() (bool, string) {
		counts, ok, why := shares(envs, rs...)
		return ok && counts[0] == 1 && counts[1] == 1, why
	})
	if _, ok := rs[0].Owned(envs[0]); ok {
		return rs[0], rs[1]
	}
	return rs[1], rs[0]
}

func TestRequestWrittenByAnyReplicaReachesTheOwner(t *testing.T) {
	c := etcdtest.Start(t, 1)
	envs := []string{"production", "staging"}
	owner, other := owning(t, c, envs)
	ctx := context.Background()
	type rollback struct{ To string }
	select {
	case <-owner.Changed():
	default:
	}
	req, err := other.State().Submit(ctx, "production", "rollback", rollback{To: "v1.4.1"})
	if err != nil {
		t.Fatal(err)
	}
	var got []Request
	eventually(t, 10*time.Second, "the owner sees the request", func() (bool, string) {
		got = owner.Pending("production")
		return len(got) == 1, fmt.Sprintf("%d pending", len(got))
	})
	select {
	case <-owner.Changed():
	default:
		t.Error("the owner's Changed was not signalled for the new request")
	}
	if got[0].Kind != "rollback" || got[0].Replica != other.Name() || !strings.Contains(string(got[0].Data), "v1.4.1") {
		t.Errorf("got request %+v, want a rollback to v1.4.1 from %s", got[0], other.Name())
	}
	if p := other.Pending("production"); len(p) != 0 {
		t.Errorf("a replica that does not own production sees %d pending requests", len(p))
	}
	token, _ := owner.Owned("production")
	otherToken, _ := other.Owned("staging")
	if err := other.State().Consume(ctx, got[0], otherToken); !errors.Is(err, ErrNotOwner) {
		t.Errorf("consume by a non-owner: got %v, want ErrNotOwner", err)
	}
	if err := owner.State().Consume(ctx, got[0], token); err != nil {
		t.Fatalf("consume by the owner: %v", err)
	}
	if err := owner.State().Consume(ctx, got[0], token); !errors.Is(err, ErrConsumed) {
		t.Errorf("second consume: got %v, want ErrConsumed", err)
	}
	eventually(t, 10*time.Second, "the request is gone", func() (bool, string) {
		n := len(owner.Pending("production"))
		return n == 0, fmt.Sprintf("%d pending", n)
	})
	if req.Revision != got[0].Revision {
		t.Errorf("Submit returned revision %d, the owner saw %d", req.Revision, got[0].Revision)
	}
}

func TestRequestsAreBoundedAndChecked(t *testing.T) {
	c := etcdtest.Start(t, 1)
	s, err := NewState(newClient(t, c), "/t", "cli", Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < MaxPending; i++ {
		if _, err := s.Submit(ctx, "web", "sync", nil); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if _, err := s.Submit(ctx, "web", "sync", nil); err == nil {
		t.Errorf("request %d accepted, want at most %d", MaxPending+1, MaxPending)
	}
	for _, tc := range []struct{ env, kind string }{{"web", "Sync"}, {"web", ""}, {"a/b", "sync"}} {
		if _, err := s.Submit(ctx, tc.env, tc.kind, nil); err == nil || strings.Contains(err.Error(), "wait") {
			t.Errorf("env %q kind %q: got %v, want a refused name", tc.env, tc.kind, err)
		}
	}
	if _, err := s.Submit(ctx, "db", "sync", strings.Repeat("x", MaxRequest)); err == nil {
		t.Error("a request over MaxRequest accepted")
	}
}

func TestHistoryKeepsTheNewestEntries(t *testing.T) {
	c := etcdtest.Start(t, 1)
	client := newClient(t, c)
	s, err := NewState(client, "/t", "cli", Options{HistoryLimit: 10})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	type event struct{ N int }
	for i := 1; i <= 25; i++ {
		if _, err := s.Append(ctx, "web", 0, event{i}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Append(ctx, "db", 0, event{100}); err != nil {
		t.Fatal(err)
	}
	got, err := s.History(ctx, "web", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 10 {
		t.Fatalf("got %d entries, want the newest 10", len(got))
	}
	for i, e := range got {
		if want := int64(25 - i); e.Seq != want || string(e.Data) != fmt.Sprintf(`{"N":%d}`, want) {
			t.Errorf("entry %d: seq %d data %s, want %d", i, e.Seq, e.Data, want)
		}
	}
	keys, err := client.Get(ctx, "/t/state/history/web/e/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	if keys.Count != 10 {
		t.Errorf("%d history keys in etcd, want 10", keys.Count)
	}
	all, err := s.History(ctx, "", 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 || all[0].Environment != "db" || all[1].Seq != 25 {
		t.Errorf("newest 3 of every environment: got %+v, want db, then web 25, 24", all)
	}
}

// TestFencedStateWritesRefuseStaleTokens: holds and history written with
// a token that no longer owns the environment change nothing.
func TestFencedStateWritesRefuseStaleTokens(t *testing.T) {
	c := etcdtest.Start(t, 1)
	var hooks counters
	a := startReplica(t, testConfig(c, "/t", "a", 2*time.Second), Options{Hooks: hooks.hooks()})
	a.SetEnvironments([]string{"web"})
	var old int64
	eventually(t, 20*time.Second, "a owns web", func() (ok bool, _ string) {
		old, ok = a.Owned("web")
		return ok, "not owned"
	})
	ctx := context.Background()
	s := a.State()
	type hold struct{ Revision string }
	if err := s.Put(ctx, KindHold, "web", "rollback", old, hold{"abc"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "web", old, hold{"abc"}); err != nil {
		t.Fatal(err)
	}
	a.Release(ctx, "web")
	var cur int64
	eventually(t, 20*time.Second, "a owns web again", func() (ok bool, _ string) {
		cur, ok = a.Owned("web")
		return ok, "not owned"
	})
	if err := s.Put(ctx, KindHold, "web", "rollback", old, hold{"stale"}); !errors.Is(err, ErrNotOwner) {
		t.Errorf("put with a stale token: got %v, want ErrNotOwner", err)
	}
	if _, err := s.Append(ctx, "web", old, hold{"stale"}); !errors.Is(err, ErrNotOwner) {
		t.Errorf("append with a stale token: got %v, want ErrNotOwner", err)
	}
	if err := s.Delete(ctx, KindHold, "web", "rollback", old); !errors.Is(err, ErrNotOwner) {
		t.Errorf("delete with a stale token: got %v, want ErrNotOwner", err)
	}
	var h hold
	if found, err := s.Get(ctx, KindHold, "web", "rollback", &h); err != nil || !found || h.Revision != "abc" {
		t.Errorf("hold after stale writes: %+v found=%v err=%v, want abc", h, found, err)
	}
	if hist, _ := s.History(ctx, "web", 0); len(hist) != 1 {
		t.Errorf("history has %d entries after a stale append, want 1", len(hist))
	}
	if err := s.Delete(ctx, KindHold, "web", "rollback", cur); err != nil {
		t.Errorf("delete with the current token: %v", err)
	}
	if list, err := s.List(ctx, KindHold, "web"); err != nil || len(list) != 0 {
		t.Errorf("holds after delete: %v %v, want none", list, err)
	}
	if _, _, refused := hooks.get(); refused != 3 {
		t.Errorf("Refused hook called %d times, want 3", refused)
	}
}

func TestStateRefusesNewerFormatsAndBadNames(t *testing.T) {
	c := etcdtest.Start(t, 1)
	client := newClient(t, c)
	s, err := NewState(client, "/t", "cli", Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := client.Put(ctx, "/t/state/approvals/web/v2", `{"format":2,"data":{"x":1}}`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, KindApproval, "web", "v2", nil); !errors.Is(err, ErrNewerFormat) {
		t.Errorf("get of format 2: got %v, want ErrNewerFormat", err)
	}
	if _, err := s.List(ctx, KindApproval, "web"); !errors.Is(err, ErrNewerFormat) {
		t.Errorf("list with format 2: got %v, want ErrNewerFormat", err)
	}
	if err := s.Put(ctx, "secrets", "web", "x", 0, 1); err == nil {
		t.Error("an unknown kind was accepted")
	}
	if err := s.Put(ctx, KindHold, "web", "../x", 0, 1); err == nil {
		t.Error("a name with / was accepted")
	}
	if err := s.Put(ctx, KindHold, "web", "big", 0, strings.Repeat("x", MaxValue)); err == nil {
		t.Error("a value over MaxValue was accepted")
	}
	var got struct{ A int }
	if err := s.Put(ctx, KindSuspension, "web", "s1", 0, struct{ A int }{7}); err != nil {
		t.Fatal(err)
	}
	if found, err := s.Get(ctx, KindSuspension, "web", "s1", &got); err != nil || !found || got.A != 7 {
		t.Errorf("round trip: %+v found=%v err=%v", got, found, err)
	}
	raw, _ := client.Get(ctx, "/t/state/suspensions/web/s1")
	if !strings.Contains(string(raw.Kvs[0].Value), `"format":1`) {
		t.Errorf("stored value %s has no format 1", raw.Kvs[0].Value)
	}
}
