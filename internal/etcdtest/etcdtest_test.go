package etcdtest

import (
	"testing"
	"time"
)

func TestSumMetric(t *testing.T) {
	text := `# HELP x
grpc_server_msg_received_total{grpc_method="Range",grpc_service="etcdserverpb.KV",grpc_type="unary"} 3
grpc_server_msg_received_total{grpc_method="LeaseKeepAlive",grpc_service="etcdserverpb.Lease",grpc_type="bidi_stream"} 4
grpc_server_msg_received_total_extra 100
etcd_server_is_leader 1
`
	for _, tc := range []struct {
		name, metric, match string
		want                float64
	}{
		{"all series", "grpc_server_msg_received_total", "", 7},
		{"one label", "grpc_server_msg_received_total", `grpc_type="unary"`, 3},
		{"no labels", "etcd_server_is_leader", "", 1},
		{"absent", "nope", "", 0},
	} {
		if got := SumMetric(text, tc.metric, tc.match); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestThreeMembersSurviveKillAndPause kills, pauses and restarts members of
// a real cluster and checks that health and leadership follow.
func TestThreeMembersSurviveKillAndPause(t *testing.T) {
	c := Start(t, 3)
	if len(c.Endpoints()) != 3 {
		t.Fatalf("got %d endpoints, want 3", len(c.Endpoints()))
	}
	leader := c.Leader()
	if leader < 0 {
		t.Fatal("no member says it leads a healthy cluster")
	}
	c.Members[leader].Kill()
	if err := c.Members[leader].healthy(); err == nil {
		t.Fatal("a killed member still answers /health")
	}
	c.WaitHealthy(30 * time.Second) // the two others elect a leader
	if l := c.Leader(); l < 0 || l == leader {
		t.Fatalf("leader after kill is %d, want one of the two others than %d", l, leader)
	}
	if err := c.Members[leader].Restart(); err != nil {
		t.Fatal(err)
	}
	c.WaitHealthy(30 * time.Second)

	// Pausing two members loses the quorum: the third has no leader.
	third := (leader + 1) % 3
	for i, m := range c.Members {
		if i != third {
			m.Stop()
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for c.Members[third].healthy() == nil {
		if time.Now().After(deadline) {
			t.Fatal("a member without quorum still says it is healthy after 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, m := range c.Members {
		m.Continue()
	}
	c.WaitHealthy(30 * time.Second)
}
