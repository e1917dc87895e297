package cluster

import (
	"hash/fnv"
	"sort"
)

// score is the rendezvous weight of an environment on a replica: every
// process computes the same value, and a replica joining or leaving does
// not change the weights of the others.
func score(env, replica string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(env))
	h.Write([]byte{0})
	h.Write([]byte(replica))
	x := h.Sum64()
	// splitmix64's finalizer: FNV alone leaves similar names close.
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// Quotas is how many environments each replica should own: floor(E/R) or
// ceil(E/R), the larger share going to the first replicas by name.
func Quotas(envs int, replicas []string) map[string]int {
	rs := uniqueSorted(replicas)
	q := make(map[string]int, len(rs))
	if len(rs) == 0 {
		return q
	}
	for i, r := range rs {
		q[r] = envs / len(rs)
		if i < envs%len(rs) {
			q[r]++
		}
	}
	return q
}

// Assign shares envs among replicas: every replica gets its quota (see
// Quotas, so at most ceil(E/R)), and each environment goes to the replica
// it weighs most among those with room. It is the environment-proposing
// stable matching with capacities, so the result depends only on the two
// sets, not on their order, and a replica joining or leaving moves few
// environments. The result maps each replica to its sorted environments.
func Assign(envs, replicas []string) map[string][]string {
	rs := uniqueSorted(replicas)
	es := uniqueSorted(envs)
	out := make(map[string][]string, len(rs))
	if len(rs) == 0 {
		return out
	}
	quota := Quotas(len(es), rs)
	prefs := make(map[string][]string, len(es))
	for _, e := range es {
		p := append([]string(nil), rs...)
		sort.Slice(p, func(i, j int) bool {
			si, sj := score(e, p[i]), score(e, p[j])
			if si != sj {
				return si > sj
			}
			return p[i] < p[j]
		})
		prefs[e] = p
	}
	next := make(map[string]int, len(es))
	held := make(map[string][]string, len(rs))
	queue := append([]string(nil), es...)
	for len(queue) > 0 {
		e := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		r := prefs[e][next[e]]
		next[e]++
		held[r] = append(held[r], e)
		if len(held[r]) <= quota[r] {
			continue
		}
		// Over quota: the replica keeps the environments it weighs most.
		worst := 0
		for i, h := range held[r] {
			if less(h, held[r][worst], r) {
				worst = i
			}
		}
		queue = append(queue, held[r][worst])
		held[r] = append(held[r][:worst], held[r][worst+1:]...)
	}
	for _, r := range rs {
		sort.Strings(held[r])
		out[r] = held[r]
	}
	return out
}

// less says replica r weighs environment a less than b.
func less(a, b, r string) bool {
	sa, sb := score(a, r), score(b, r)
	if sa != sb {
		return sa < sb
	}
	return a > b
}

func uniqueSorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	n := 0
	for i, v := range out {
		if i == 0 || v != out[n-1] {
			out[n] = v
			n++
		}
	}
	return out[:n]
}
