package cluster

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/etcdtest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// settle starts replicas named names on c with no environments and waits
// until each sees all of them, then gives them envs: the first assignment
// is then the final one.
func settle(t *testing.T, c *etcdtest.Cluster, prefix string, ttl time.Duration, envs []string, names ...string) []*Replica {
	t.Helper()
	var rs []*Replica
	for _, n := range names {
		r := startReplica(t, testConfig(c, prefix, n, ttl), Options{})
		r.SetEnvironments(nil) // registers, owns nothing
		rs = append(rs, r)
	}
	for _, r := range rs {
		eventually(t, 20*time.Second, r.Name()+" sees every replica", func() (bool, string) {
			got := r.Replicas()
			return len(got) == len(names), fmt.Sprintf("sees %v", got)
		})
	}
	for _, r := range rs {
		if err := r.SetEnvironments(envs); err != nil {
			t.Fatal(err)
		}
	}
	return rs
}

func TestTwoReplicasShareFourEnvironments(t *testing.T) {
	c := etcdtest.Start(t, 1)
	envs := envNames(4)
	// A replica that does not know the desired state yet does not count.
	startReplica(t, testConfig(c, "/t", "c", 3*time.Second), Options{})
	rs := settle(t, c, "/t", 3*time.Second, envs, "a", "b")
	eventually(t, 20*time.Second, "2/2", func() (bool, string) {
		counts, ok, why := shares(envs, rs...)
		return ok && reflect.DeepEqual(counts, []int{2, 2}), why
	})
	if got := rs[0].Replicas(); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Errorf("a sees replicas %v, want a and b: c has no desired state yet", got)
	}
	want := Assign(envs, []string{"a", "b"})
	for _, r := range rs {
		for _, e := range want[r.Name()] {
			token, ok := r.Owned(e)
			if !ok {
				t.Fatalf("%s does not own %s that Assign gives it", r.Name(), e)
			}
			if err := r.Check(context.Background(), e, token); err != nil {
				t.Errorf("check %s of %s: %v", e, r.Name(), err)
			}
		}
		if s := r.Surplus(); len(s) != 0 {
			t.Errorf("%s has surplus %v, want none", r.Name(), s)
		}
	}
	// Every replica sees the same owners.
	eventually(t, 10*time.Second, "owners agree", func() (bool, string) {
		a, b := rs[0].Owners(), rs[1].Owners()
		return reflect.DeepEqual(a, b) && a["env-1"] != "", fmt.Sprintf("a sees %v, b sees %v", a, b)
	})
}

// TestThirdReplicaTakesItsShareOnlyAtRelease: a replica joining makes the
// others' surplus visible, but takes nothing until Release hands it over.
func TestThirdReplicaTakesItsShareOnlyAtRelease(t *testing.T) {
	t.Parallel() // most of it is waiting for leases to expire
	c := etcdtest.Start(t, 1)
	envs := envNames(4)
	ttl := 2 * time.Second
	rs := settle(t, c, "/t", ttl, envs, "a", "b")
	eventually(t, 20*time.Second, "2/2", func() (bool, string) {
		counts, ok, why := shares(envs, rs...)
		return ok && reflect.DeepEqual(counts, []int{2, 2}), why
	})
	third := startReplica(t, testConfig(c, "/t", "c", ttl), Options{})
	if err := third.SetEnvironments(envs); err != nil {
		t.Fatal(err)
	}
	all := append(rs, third)
	// Quotas by name: a 2, b 1, c 1; b must hand one over.
	eventually(t, 20*time.Second, "b sees its surplus", func() (bool, string) {
		s := rs[1].Surplus()
		return len(s) == 1, fmt.Sprintf("b's surplus %v", s)
	})
	surplus := rs[1].Surplus()[0]
	// Nothing is free, so c cannot take anything, even after a TTL.
	time.Sleep(ttl + time.Second)
	if n := len(third.Tokens()); n != 0 {
		t.Fatalf("c owns %d environments before any Release, want 0", n)
	}
	if _, ok := rs[1].Owned(surplus); !ok {
		t.Fatalf("b lost %s without releasing it", surplus)
	}
	if err := rs[1].Release(context.Background(), surplus); err != nil {
		t.Fatal(err)
	}
	if _, ok := rs[1].Owned(surplus); ok {
		t.Fatalf("b still owns %s after Release", surplus)
	}
	eventually(t, 20*time.Second, "2/1/1", func() (bool, string) {
		counts, ok, why := shares(envs, all...)
		return ok && reflect.DeepEqual(counts, []int{2, 1, 1}), why
	})
	if _, ok := third.Owned(surplus); !ok {
		t.Errorf("c does not own %s that b released", surplus)
	}
}

// TestCloseHandsOverWithoutWaitingForTTL: with a TTL of a minute, the
// other replica owns everything long before it, so Close resigned.
func TestCloseHandsOverWithoutWaitingForTTL(t *testing.T) {
	c := etcdtest.Start(t, 1)
	envs := envNames(4)
	rs := settle(t, c, "/t", time.Minute, envs, "a", "b")
	eventually(t, 20*time.Second, "2/2", func() (bool, string) {
		counts, ok, why := shares(envs, rs...)
		return ok && reflect.DeepEqual(counts, []int{2, 2}), why
	})
	start := time.Now()
	if err := rs[0].Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(rs[0].Tokens()); n != 0 {
		t.Errorf("a owns %d environments after Close", n)
	}
	eventually(t, 15*time.Second, "b owns all four", func() (bool, string) {
		counts, ok, why := shares(envs, rs[1])
		return ok && counts[0] == 4, why
	})
	t.Logf("b owned all four %s after a closed (TTL %s)", time.Since(start).Round(time.Millisecond), time.Minute)
	if n := rs[0].LeaseLosses(); n != 0 {
		t.Errorf("Close counted %d lease losses, want 0", n)
	}
}

// TestCrashedReplicaIsTakenOverAfterTTL: a replica whose connection dies
// without resigning (its client closed, as by kill -9) keeps its keys in
// etcd until the TTL; then the other takes everything.
func TestCrashedReplicaIsTakenOverAfterTTL(t *testing.T) {
	t.Parallel() // most of it is waiting for leases to expire
	c := etcdtest.Start(t, 1)
	envs := envNames(4)
	ttl := 2 * time.Second
	crashClient := newClient(t, c)
	var hooks counters
	a := startReplica(t, testConfig(c, "/t", "a", ttl), Options{Client: crashClient, Hooks: hooks.hooks()})
	b := startReplica(t, testConfig(c, "/t", "b", ttl), Options{})
	a.SetEnvironments(nil)
	b.SetEnvironments(nil)
	eventually(t, 20*time.Second, "both registered", func() (bool, string) {
		return len(a.Replicas()) == 2 && len(b.Replicas()) == 2, fmt.Sprint(a.Replicas(), b.Replicas())
	})
	a.SetEnvironments(envs)
	b.SetEnvironments(envs)
	eventually(t, 20*time.Second, "2/2", func() (bool, string) {
		counts, ok, why := shares(envs, a, b)
		return ok && reflect.DeepEqual(counts, []int{2, 2}), why
	})
	eventually(t, 10*time.Second, "a's hooks say 2 owned and every owner", func() (bool, string) {
		owned, _, _ := hooks.get()
		hooks.mu.Lock()
		defer hooks.mu.Unlock()
		return owned == 2 && reflect.DeepEqual(hooks.owners, a.Owners()) && len(hooks.owners) == 4 && hooks.owners["env-1"] != "",
			fmt.Sprintf("owned %d, owners %v", owned, hooks.owners)
	})
	aTokens := a.Tokens()
	crashClient.Close()

	watcher := newClient(t, c)
	resp, err := watcher.Get(context.Background(), "/t/owners/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 4 {
		t.Fatalf("%d owner keys right after the crash, want 4: a's must outlive it until the TTL", len(resp.Kvs))
	}
	eventually(t, 10*ttl, "b owns all four", func() (bool, string) {
		counts, ok, why := shares(envs, b)
		return ok && counts[0] == 4, why
	})
	for env, old := range aTokens {
		if _, ok := a.Owned(env); ok {
			t.Errorf("crashed a still says it owns %s", env)
		}
		token, _ := b.Owned(env)
		if token <= old {
			t.Errorf("%s: new token %d not above the crashed owner's %d", env, token, old)
		}
		if err := a.checkEtcd(context.Background(), env, old); err == nil {
			t.Errorf("%s: the crashed owner's token %d still passes", env, old)
		}
	}
	eventually(t, 10*ttl, "a counts its lost lease", func() (bool, string) {
		owned, lost, _ := hooks.get()
		return lost >= 1 && a.LeaseLosses() >= 1 && owned == 0, fmt.Sprintf("hook %d, LeaseLosses %d, owned %d", lost, a.LeaseLosses(), owned)
	})
}

func TestCheckRefusesStaleTokens(t *testing.T) {
	c := etcdtest.Start(t, 1)
	var hooks counters
	a := startReplica(t, testConfig(c, "/t", "a", 2*time.Second), Options{Hooks: hooks.hooks()})
	a.SetEnvironments([]string{"web"})
	var t1 int64
	eventually(t, 20*time.Second, "a owns web", func() (ok bool, why string) {
		t1, ok = a.Owned("web")
		return ok, "not owned"
	})
	ctx := context.Background()
	if err := a.Release(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	// a owns it again (it is its share) with a new token.
	var t2 int64
	eventually(t, 20*time.Second, "a owns web again", func() (ok bool, why string) {
		t2, ok = a.Owned("web")
		return ok, "not owned"
	})
	if t2 <= t1 {
		t.Fatalf("new token %d not above the old %d", t2, t1)
	}
	for _, tc := range []struct {
		name  string
		check func() error
		want  bool
	}{
		{"current token", func() error { return a.Check(ctx, "web", t2) }, true},
		{"stale token, here", func() error { return a.Check(ctx, "web", t1) }, false},
		{"stale token, in etcd", func() error { return a.checkEtcd(ctx, "web", t1) }, false},
		{"unowned environment", func() error { return a.Check(ctx, "db", t2) }, false},
	} {
		err := tc.check()
		if tc.want && err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if !tc.want && !errors.Is(err, ErrNotOwner) {
			t.Errorf("%s: got %v, want ErrNotOwner", tc.name, err)
		}
	}
	if _, _, refused := hooks.get(); refused != 3 {
		t.Errorf("Refused hook called %d times, want 3", refused)
	}
}

func TestSetEnvironmentsRefusesBadNames(t *testing.T) {
	c := etcdtest.Start(t, 1)
	a := startReplica(t, testConfig(c, "/t", "a", 2*time.Second), Options{})
	a.SetEnvironments([]string{"web"})
	for _, bad := range []string{"", "a/b", "..", "tab\there"} {
		if err := a.SetEnvironments([]string{"ok", bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	eventually(t, 20*time.Second, "a owns web and only web", func() (bool, string) {
		tokens := a.Tokens()
		_, ok := tokens["web"]
		return ok && len(tokens) == 1, fmt.Sprint(tokens)
	})
}

// TestSecondReplicaWithTheSameNameWaits: a name in use is refused until
// its holder resigns, so two processes never act as one replica.
func TestSecondReplicaWithTheSameNameWaits(t *testing.T) {
	t.Parallel() // most of it is waiting for leases to expire
	c := etcdtest.Start(t, 1)
	first := startReplica(t, testConfig(c, "/t", "a", 2*time.Second), Options{})
	first.SetEnvironments([]string{"web"})
	eventually(t, 20*time.Second, "the first owns web", func() (bool, string) {
		_, ok := first.Owned("web")
		return ok, "not owned"
	})
	second := startReplica(t, testConfig(c, "/t", "a", 2*time.Second), Options{})
	second.SetEnvironments([]string{"web"})
	time.Sleep(2*time.Second + 500*time.Millisecond) // past the TTL: the first renews, the second retries
	if n := len(second.Tokens()); n != 0 || len(second.Replicas()) != 0 {
		t.Fatalf("the second replica named a registered (sees %v) and owns %d environments", second.Replicas(), n)
	}
	if _, ok := first.Owned("web"); !ok {
		t.Fatal("the first lost web to a replica of the same name")
	}
	first.Close(context.Background())
	eventually(t, 30*time.Second, "the second owns web", func() (bool, string) {
		_, ok := second.Owned("web")
		return ok, fmt.Sprint(second.Replicas())
	})
}

// TestEnvironmentLeftFreeIsTakenAfterTTLWithinTheCeiling: an environment
// whose assigned replica does not take it (it does not know it yet) is
// taken after a TTL by a replica with room below ceil(E/R), and no more.
func TestEnvironmentLeftFreeIsTakenAfterTTLWithinTheCeiling(t *testing.T) {
	t.Parallel() // most of it is waiting for leases to expire
	c := etcdtest.Start(t, 1)
	ttl := 2 * time.Second
	envs := []string{"x1", "x2", "x3"}
	rs := settle(t, c, "/t", ttl, nil, "a", "b")
	a, b := rs[0], rs[1]
	// b knows three environments, a none: b's quota is 1 (a, first by
	// name, is given 2) and the ceiling is 2.
	if err := b.SetEnvironments(envs); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "b owns its share", func() (bool, string) {
		return len(b.Tokens()) >= 1, fmt.Sprint(b.Tokens())
	})
	if n := len(b.Tokens()); n != 1 {
		t.Fatalf("b owns %d environments at once, want its quota 1", n)
	}
	eventually(t, 10*ttl, "b takes one more after the TTL", func() (bool, string) {
		return len(b.Tokens()) == 2, fmt.Sprint(b.Tokens())
	})
	time.Sleep(ttl + 500*time.Millisecond)
	if n := len(b.Tokens()); n != 2 {
		t.Errorf("b owns %d environments, want at most the ceiling 2", n)
	}
	if n := len(a.Tokens()); n != 0 {
		t.Errorf("a owns %d environments it does not know", n)
	}
	if s := b.Surplus(); len(s) != 1 {
		t.Errorf("b's surplus %v, want the environment taken beyond its share", s)
	}
}
