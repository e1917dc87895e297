package cluster

import (
	"context"
	"maps"
	"reflect"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/etcdtest"
)

// TestEtcdMemberLossAndQuorumLoss: with one of three members killed the
// replicas keep every environment and its token; with the leader paused as
// well (quorum lost) every ownership ends within about the TTL; when the
// quorum is back, every environment is owned again with new tokens.
func TestEtcdMemberLossAndQuorumLoss(t *testing.T) {
	t.Parallel() // most of it is waiting for leases to expire
	c := etcdtest.Start(t, 3)
	envs := envNames(4)
	ttl := 3 * time.Second
	rs := settle(t, c, "/t", ttl, envs, "a", "b")
	for _, r := range rs {
		releaser(t, r)
	}
	eventually(t, 20*time.Second, "2/2", func() (bool, string) {
		counts, ok, why := shares(envs, rs...)
		return ok && reflect.DeepEqual(counts, []int{2, 2}), why
	})
	before := map[string]map[string]int64{}
	for _, r := range rs {
		before[r.Name()] = r.Tokens()
	}

	leader := c.Leader()
	if leader < 0 {
		t.Fatal("no etcd leader")
	}
	follower := c.Members[(leader+1)%3]
	follower.Kill()
	// Several renewals later, nothing changed.
	for end := time.Now().Add(2 * ttl); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		for _, r := range rs {
			if got := r.Tokens(); !maps.Equal(got, before[r.Name()]) {
				t.Fatalf("one member killed: %s owns %v, want %v as before", r.Name(), got, before[r.Name()])
			}
		}
	}
	ctx := context.Background()
	for _, r := range rs {
		for env, token := range r.Tokens() {
			if err := r.Check(ctx, env, token); err != nil {
				t.Errorf("one member killed: check %s: %v", env, err)
			}
		}
		if n := r.LeaseLosses(); n != 0 {
			t.Errorf("one member killed: %s lost %d leases", r.Name(), n)
		}
	}

	c.Members[leader].Stop() // one of three runs: no quorum
	stopped := time.Now()
	eventually(t, 4*ttl, "every ownership ends without quorum", func() (bool, string) {
		counts, _, why := shares(envs, rs...)
		return counts[0] == 0 && counts[1] == 0, why
	})
	t.Logf("quorum lost: every ownership ended after %s (TTL %s)", time.Since(stopped).Round(10*time.Millisecond), ttl)
	cctx, cancel := context.WithTimeout(ctx, ttl)
	if err := rs[0].checkEtcd(cctx, envs[0], before["a"][envs[0]]+before["b"][envs[0]]); err == nil {
		t.Error("a check passed in etcd without quorum")
	}
	cancel()

	c.Members[leader].Continue()
	if err := follower.Restart(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 40*time.Second, "every environment owned again", func() (bool, string) {
		counts, ok, why := shares(envs, rs...)
		return ok && reflect.DeepEqual(sortedInts(counts), []int{2, 2}), why
	})
	for _, r := range rs {
		if n := r.LeaseLosses(); n < 1 {
			t.Errorf("%s counted %d lease losses, want at least 1", r.Name(), n)
		}
		for env, token := range r.Tokens() {
			old := before["a"][env] + before["b"][env]
			if token <= old {
				t.Errorf("%s: token %d after the quorum came back, not above %d", env, token, old)
			}
		}
	}
}
