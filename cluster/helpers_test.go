package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/etcdtest"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// testConfig is a replica of a test's etcd under its own prefix.
func testConfig(c *etcdtest.Cluster, prefix, name string, ttl time.Duration) Config {
	return Config{Replica: name, Etcd: Etcd{Endpoints: c.Endpoints(), Prefix: prefix, LeaseTTL: ttl}}
}

// counters records what the hooks saw.
type counters struct {
	mu        sync.Mutex
	owned     int
	leaseLost int
	refused   int
	owners    map[string]string
}

func (c *counters) hooks() Hooks {
	return Hooks{
		Owned:     func(n int) { c.mu.Lock(); c.owned = n; c.mu.Unlock() },
		LeaseLost: func() { c.mu.Lock(); c.leaseLost++; c.mu.Unlock() },
		Refused:   func(string) { c.mu.Lock(); c.refused++; c.mu.Unlock() },
		Owners:    func(o map[string]string) { c.mu.Lock(); c.owners = o; c.mu.Unlock() },
	}
}

func (c *counters) get() (owned, lost, refused int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.owned, c.leaseLost, c.refused
}

func testLogger(t testing.TB, name string) *slog.Logger {
	if os.Getenv("GITFLEET_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name(), "r", name)
}

// startReplica starts a replica that resigns when the test ends.
func startReplica(t testing.TB, cfg Config, opts Options) *Replica {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(t, cfg.Replica)
	}
	r, err := Start(context.Background(), cfg, opts)
	if err != nil {
		t.Fatalf("start %s: %v", cfg.Replica, err)
	}
	t.Cleanup(func() { r.Close(context.Background()) })
	return r
}

// newClient is an etcd client the test owns.
func newClient(t testing.TB, c *etcdtest.Cluster) *clientv3.Client {
	t.Helper()
	cl, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// eventually polls cond until it holds, and fails the test with cond's
// last explanation after timeout. Timeouts are generous bounds, not
// measurements.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s: %s", what, timeout, why)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// releaser plays a controller whose steps end at once: it releases every
// surplus environment as soon as there is one, until the test ends.
func releaser(t testing.TB, r *Replica) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			for _, env := range r.Surplus() {
				r.Release(ctx, env)
			}
			select {
			case <-ctx.Done():
				return
			case <-r.Changed():
			case <-tick.C:
			}
		}
	}()
}

// shares describes who owns what and checks that every environment has
// exactly one owner among rs.
func shares(envs []string, rs ...*Replica) (counts []int, ok bool, why string) {
	owner := map[string]string{}
	var b strings.Builder
	ok = true
	for _, r := range rs {
		tokens := r.Tokens()
		counts = append(counts, len(tokens))
		names := make([]string, 0, len(tokens))
		for e := range tokens {
			names = append(names, e)
			if prev, dup := owner[e]; dup {
				ok = false
				fmt.Fprintf(&b, "%s owned by %s and %s; ", e, prev, r.Name())
			}
			owner[e] = r.Name()
		}
		sort.Strings(names)
		fmt.Fprintf(&b, "%s owns %v (surplus %v); ", r.Name(), names, r.Surplus())
	}
	for _, e := range envs {
		if owner[e] == "" {
			ok = false
		}
	}
	return counts, ok, b.String()
}

func sortedInts(s []int) []int {
	s = append([]int(nil), s...)
	sort.Ints(s)
	return s
}

func envNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("env-%d", i+1)
	}
	return out
}
