package cluster

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/etcdtest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestMain runs the replica process of the process tests when asked to
// (GITFLEET_CLUSTER_HELPER=1), the tests otherwise.
func TestMain(m *testing.M) {
	if os.Getenv("GITFLEET_CLUSTER_HELPER") == "1" {
		helperReplica()
		return
	}
	os.Exit(m.Run())
}

// helperReplica is the replica process the tests start, pause and kill.
// It prints, every 50ms, the time and what it owns ("<unixnano>
// env=token ..."), and releases its surplus at once, like a controller
// between steps.
func helperReplica() {
	ttl, _ := time.ParseDuration(os.Getenv("GITFLEET_CLUSTER_TTL"))
	cfg := Config{Replica: os.Getenv("GITFLEET_CLUSTER_NAME"), Etcd: Etcd{
		Endpoints: strings.Split(os.Getenv("GITFLEET_CLUSTER_ENDPOINTS"), ","),
		Prefix:    os.Getenv("GITFLEET_CLUSTER_PREFIX"), LeaseTTL: ttl}}
	r, err := Start(context.Background(), cfg, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	r.SetEnvironments(strings.Split(os.Getenv("GITFLEET_CLUSTER_ENVS"), ","))
	for {
		for _, env := range r.Surplus() {
			r.Release(context.Background(), env)
		}
		line := []string{strconv.FormatInt(time.Now().UnixNano(), 10)}
		for e, tok := range r.Tokens() {
			line = append(line, e+"="+strconv.FormatInt(tok, 10))
		}
		sort.Strings(line[1:])
		fmt.Println(strings.Join(line, " "))
		time.Sleep(50 * time.Millisecond)
	}
}

// replicaProcess is a replica in a process of its own.
type replicaProcess struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []ownedLine
}

type ownedLine struct {
	at     time.Time
	tokens map[string]int64
}

func startReplicaProcess(t testing.TB, c *etcdtest.Cluster, name string, ttl time.Duration, envs []string) *replicaProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "GITFLEET_CLUSTER_HELPER=1", "GITFLEET_CLUSTER_NAME="+name,
		"GITFLEET_CLUSTER_TTL="+ttl.String(), "GITFLEET_CLUSTER_PREFIX=/t",
		"GITFLEET_CLUSTER_ENDPOINTS="+strings.Join(c.Endpoints(), ","),
		"GITFLEET_CLUSTER_ENVS="+strings.Join(envs, ","))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &replicaProcess{cmd: cmd}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 0 {
				continue
			}
			ns, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				continue
			}
			l := ownedLine{at: time.Unix(0, ns), tokens: map[string]int64{}}
			for _, kv := range f[1:] {
				e, tok, _ := strings.Cut(kv, "=")
				l.tokens[e], _ = strconv.ParseInt(tok, 10, 64)
			}
			p.mu.Lock()
			p.lines = append(p.lines, l)
			p.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGCONT)
		cmd.Process.Kill()
		cmd.Wait()
		<-done
	})
	return p
}

// last is the newest line the process printed.
func (p *replicaProcess) last() ownedLine {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.lines) == 0 {
		return ownedLine{}
	}
	return p.lines[len(p.lines)-1]
}

// since is every line printed at or after t.
func (p *replicaProcess) since(t time.Time) []ownedLine {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []ownedLine
	for _, l := range p.lines {
		if !l.at.Before(t) {
			out = append(out, l)
		}
	}
	return out
}

// TestPausedReplicaWakesUpOwningNothing: a replica process stopped with
// SIGSTOP for longer than the TTL loses its environments to the other;
// after SIGCONT it never again reports an ownership of before the pause.
// Then kill -9 of it: its keys outlive it until the TTL, then the other
// owns everything.
func TestPausedReplicaWakesUpOwningNothing(t *testing.T) {
	t.Parallel() // most of it is waiting for leases to expire
	c := etcdtest.Start(t, 1)
	envs := envNames(4)
	ttl := 2 * time.Second
	a := startReplicaProcess(t, c, "a", ttl, envs)
	b := startReplica(t, testConfig(c, "/t", "b", ttl), Options{})
	b.SetEnvironments(envs)
	releaser(t, b)
	eventually(t, 30*time.Second, "2/2", func() (bool, string) {
		l := a.last()
		bt := b.Tokens()
		return len(l.tokens) == 2 && len(bt) == 2, fmt.Sprintf("a owns %v, b owns %v", l.tokens, bt)
	})
	before := a.last().tokens

	a.cmd.Process.Signal(syscall.SIGSTOP)
	eventually(t, 10*ttl, "b owns all four while a is paused", func() (bool, string) {
		bt := b.Tokens()
		return len(bt) == 4, fmt.Sprintf("b owns %v", bt)
	})
	woke := time.Now()
	a.cmd.Process.Signal(syscall.SIGCONT)
	eventually(t, 30*time.Second, "2/2 again", func() (bool, string) {
		l := a.last()
		return l.at.After(woke) && len(l.tokens) == 2 && len(b.Tokens()) == 2, fmt.Sprintf("a owns %v, b owns %v", l.tokens, b.Tokens())
	})
	for _, l := range a.since(woke) {
		for env, tok := range l.tokens {
			if before[env] == tok {
				t.Fatalf("at %s, after waking, a reports %s with its token %d of before the pause", l.at.Format(time.StampMicro), env, tok)
			}
		}
	}
	if n := b.LeaseLosses(); n != 0 {
		t.Errorf("b lost %d leases", n)
	}

	// kill -9: nothing resigns, so the keys stay until the TTL.
	owned := a.last().tokens
	a.cmd.Process.Kill()
	resp, err := newClient(t, c).Get(context.Background(), "/t/owners/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 4 {
		t.Errorf("%d owner keys right after kill -9, want 4", len(resp.Kvs))
	}
	eventually(t, 10*ttl, "b owns all four after a is killed", func() (bool, string) {
		bt := b.Tokens()
		return len(bt) == 4, fmt.Sprintf("b owns %v", bt)
	})
	got := b.Tokens()
	for env, tok := range owned {
		if got[env] <= tok {
			t.Errorf("%s: b's token %d is not above the killed owner's %d", env, got[env], tok)
		}
	}
	if !reflect.DeepEqual(b.Replicas(), []string{"b"}) {
		t.Errorf("replicas after kill -9 and the TTL: %v, want only b", b.Replicas())
	}
}
