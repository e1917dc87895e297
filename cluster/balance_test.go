package cluster

import (
	"fmt"
	"math/rand"
	"reflect"
	"sort"
	"testing"
)

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i+1)
	}
	return out
}

func TestAssignGivesEveryReplicaItsShare(t *testing.T) {
	for _, tc := range []struct {
		envs, replicas int
	}{{0, 1}, {1, 3}, {4, 2}, {4, 3}, {5, 3}, {100, 3}, {100, 7}, {1000, 4}, {3, 5}} {
		envs, reps := names("env-", tc.envs), names("replica-", tc.replicas)
		got := Assign(envs, reps)
		seen := map[string]string{}
		lo, hi := tc.envs/tc.replicas, (tc.envs+tc.replicas-1)/tc.replicas
		for r, es := range got {
			if len(es) < lo || len(es) > hi {
				t.Errorf("%d envs on %d replicas: %s got %d, want %d..%d", tc.envs, tc.replicas, r, len(es), lo, hi)
			}
			for _, e := range es {
				if prev, dup := seen[e]; dup {
					t.Errorf("%s assigned to %s and %s", e, prev, r)
				}
				seen[e] = r
			}
		}
		if len(seen) != tc.envs {
			t.Errorf("%d envs on %d replicas: %d assigned, want all", tc.envs, tc.replicas, len(seen))
		}
	}
}

func TestAssignIgnoresOrderAndDuplicates(t *testing.T) {
	envs, reps := names("env-", 50), names("r", 4)
	want := Assign(envs, reps)
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 5; i++ {
		e := append(append([]string(nil), envs...), envs[:3]...)
		r := append([]string(nil), reps...)
		rng.Shuffle(len(e), func(i, j int) { e[i], e[j] = e[j], e[i] })
		rng.Shuffle(len(r), func(i, j int) { r[i], r[j] = r[j], r[i] })
		if got := Assign(e, r); !reflect.DeepEqual(got, want) {
			t.Fatalf("shuffle %d: got %v, want %v", i, got, want)
		}
	}
}

// moved counts the environments whose replica differs between a and b.
func moved(a, b map[string][]string) int {
	owner := map[string]string{}
	for r, es := range a {
		for _, e := range es {
			owner[e] = r
		}
	}
	n := 0
	for r, es := range b {
		for _, e := range es {
			if owner[e] != r {
				n++
			}
		}
	}
	return n
}

// TestAssignMovesFewOnJoinAndLeave: a replica joining takes about its
// share and little else moves; one leaving hands out only its own.
func TestAssignMovesFewOnJoinAndLeave(t *testing.T) {
	envs := names("production-", 100)
	for _, tc := range []struct{ from, to int }{{2, 3}, {3, 4}, {4, 5}, {9, 10}} {
		before := Assign(envs, names("replica-", tc.from))
		after := Assign(envs, names("replica-", tc.to))
		ideal := 100 / tc.to
		// Quotas of ceil and floor shift by one between replicas, so a
		// few more move than the joiner's share.
		if m := moved(before, after); m > ideal+tc.from+2 {
			t.Errorf("join %d->%d: %d environments moved, want at most %d", tc.from, tc.to, m, ideal+tc.from+2)
		}
		if m := moved(after, before); m > (100+tc.to-1)/tc.to+tc.from+2 {
			t.Errorf("leave %d->%d: %d environments moved", tc.to, tc.from, m)
		}
	}
}

func TestQuotas(t *testing.T) {
	got := Quotas(4, []string{"c", "a", "b"})
	want := map[string]int{"a": 2, "b": 1, "c": 1}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if q := Quotas(4, nil); len(q) != 0 {
		t.Errorf("no replicas: got %v, want none", q)
	}
}

func TestScoreSpreadsSimilarNames(t *testing.T) {
	// The top choice of 1,000 similar names is spread over 4 replicas.
	reps := names("r", 4)
	count := map[string]int{}
	for _, e := range names("env-", 1000) {
		p := append([]string(nil), reps...)
		sort.Slice(p, func(i, j int) bool { return score(e, p[i]) > score(e, p[j]) })
		count[p[0]]++
	}
	for _, r := range reps {
		if count[r] < 180 || count[r] > 320 {
			t.Errorf("%s is the first choice of %d of 1000, want about 250", r, count[r])
		}
	}
}
