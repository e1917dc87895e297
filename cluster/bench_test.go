package cluster

import (
	"context"
	"fmt"
	"os"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/etcdtest"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
)

// requestCounter counts the requests a client sends: unary calls and
// every message sent on a stream (a lease renewal, a watch creation).
type requestCounter struct{ n atomic.Int64 }

func (c *requestCounter) dialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			c.n.Add(1)
			return invoker(ctx, method, req, reply, cc, opts...)
		}),
		grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			s, err := streamer(ctx, desc, cc, method, opts...)
			if err != nil {
				return nil, err
			}
			return &countedStream{ClientStream: s, n: &c.n}, nil
		}),
	}
}

type countedStream struct {
	grpc.ClientStream
	n *atomic.Int64
}

func (s *countedStream) SendMsg(m any) error {
	s.n.Add(1)
	return s.ClientStream.SendMsg(m)
}

// BenchmarkRequestsAtRest measures the etcd requests per second each of
// three replicas makes while they share 100 environments and nothing
// changes, with the default TTL (15s): counted by each replica's client
// and, as a check, by the etcd server (grpc_server_msg_received_total).
// settle-req/replica is what it took to get there from an empty etcd:
// registration, claims, the releases of a replica that started first.
// It takes about 45s and is skipped with -short:
//
//	CI=true go test -run '^$' -bench RequestsAtRest -benchtime 1x ./cluster/
func BenchmarkRequestsAtRest(b *testing.B) {
	if testing.Short() {
		b.Skip("a 45s measurement at rest")
	}
	c := etcdtest.Start(b, 1)
	envs := make([]string, 100)
	for i := range envs {
		envs[i] = fmt.Sprintf("production-%03d", i+1)
	}
	ttl := DefaultLeaseTTL
	var counters [3]requestCounter
	var rs []*Replica
	for i := range counters {
		client, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second,
			Logger: zap.NewNop(), DialOptions: counters[i].dialOptions()})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { client.Close() })
		r := startReplica(b, testConfig(c, "/bench", fmt.Sprintf("replica-%d", i+1), ttl), Options{Client: client})
		r.SetEnvironments(envs)
		releaser(b, r)
		rs = append(rs, r)
	}
	eventually(b, 60*time.Second, "34/33/33", func() (bool, string) {
		counts, ok, why := shares(envs, rs...)
		return ok && fmt.Sprint(sortedInts(counts)) == "[33 33 34]", why
	})
	var settle int64
	for j := range counters {
		settle += counters[j].n.Load()
	}
	window := 2 * ttl
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var before [3]int64
		for j := range counters {
			before[j] = counters[j].n.Load()
		}
		server0, err := c.Members[0].Metric("grpc_server_msg_received_total")
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		time.Sleep(window)
		elapsed := time.Since(start).Seconds()
		server1, err := c.Members[0].Metric("grpc_server_msg_received_total")
		if err != nil {
			b.Fatal(err)
		}
		var total int64
		for j := range counters {
			d := counters[j].n.Load() - before[j]
			total += d
			b.Logf("replica-%d: %d requests in %.1fs", j+1, d, elapsed)
		}
		b.ReportMetric(float64(total)/3/elapsed, "req/s/replica")
		b.ReportMetric((server1-server0)/elapsed, "server-msgs/s")
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(settle)/3, "settle-req/replica")
	for _, r := range rs {
		if s := r.Surplus(); len(s) != 0 || r.LeaseLosses() != 0 {
			b.Errorf("%s: surplus %v, %d lease losses during the measurement", r.Name(), s, r.LeaseLosses())
		}
	}
}

// BenchmarkTakeoverAfterKill measures, over 10 kills, the time from
// kill -9 of a replica process to the other replica owning all of its
// environments, with a lease TTL of 2s (GITFLEET_BENCH_TTL changes it).
// Skipped with -short:
//
//	CI=true go test -run '^$' -bench TakeoverAfterKill -benchtime 1x ./cluster/
func BenchmarkTakeoverAfterKill(b *testing.B) {
	if testing.Short() {
		b.Skip("10 kills of a replica process")
	}
	ttl := 2 * time.Second
	if v, err := time.ParseDuration(os.Getenv("GITFLEET_BENCH_TTL")); err == nil {
		ttl = v
	}
	c := etcdtest.Start(b, 1)
	envs := envNames(4)
	survivor := startReplica(b, testConfig(c, "/t", "b", ttl), Options{})
	survivor.SetEnvironments(envs)
	releaser(b, survivor)
	const kills = 10
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var took []time.Duration
		for k := 0; k < kills; k++ {
			p := startReplicaProcess(b, c, "a", ttl, envs)
			eventually(b, 60*time.Second, "2/2", func() (bool, string) {
				return len(p.last().tokens) == 2 && len(survivor.Tokens()) == 2, fmt.Sprint(p.last().tokens, survivor.Tokens())
			})
			killed := time.Now()
			p.cmd.Process.Kill()
			p.cmd.Wait()
			eventually(b, 10*ttl, "the survivor owns all four", func() (bool, string) {
				return len(survivor.Tokens()) == 4, fmt.Sprint(survivor.Tokens())
			})
			took = append(took, time.Since(killed))
		}
		sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
		b.ReportMetric(float64(took[kills/2].Milliseconds()), "median-ms")
		b.ReportMetric(float64(took[kills-1].Milliseconds()), "max-ms")
		b.ReportMetric(ttl.Seconds(), "ttl-s")
		b.Logf("takeover after kill -9 (TTL %s): %v", ttl, took)
	}
	b.ReportMetric(0, "ns/op")
}
