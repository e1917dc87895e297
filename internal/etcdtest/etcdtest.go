// Package etcdtest runs a real etcd cluster for tests: Debian's etcd-server
// (/usr/bin/etcd, 3.4) with one or three members on free loopback ports and
// data directories in memory, stopped when the test ends. A test can kill
// (SIGKILL), pause (SIGSTOP), resume (SIGCONT) and restart members to show
// what a client does when a member or the quorum is lost. Without etcd the
// tests skip, unless CI=true.
package etcdtest

import (
	"bufio"
	"bytes"
	"fmt"
	"github.com/gitfleet/gitfleet/internal/testenv"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Binary is where Debian's etcd-server puts etcd.
const Binary = "/usr/bin/etcd"

// Cluster is a running etcd cluster of one or three members.
type Cluster struct {
	t       testing.TB
	Dir     string
	Members []*Member
}

// Member is one etcd process. Its ports and data directory stay the same
// across Kill and Restart, so a restarted member rejoins the cluster.
type Member struct {
	Name       string
	ClientPort int
	PeerPort   int
	dataDir    string
	args       []string
	log        *syncBuffer

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
	stopped bool // SIGSTOP sent and not yet continued
}

// Endpoint is the member's client URL.
func (m *Member) Endpoint() string { return "http://127.0.0.1:" + strconv.Itoa(m.ClientPort) }

// Available says why etcd cannot run here, or "".
func Available() string {
	if _, err := os.Stat(Binary); err != nil {
		return Binary + " is needed for the etcd tests (Debian: apt-get install etcd-server)"
	}
	return ""
}

// skip skips (or, with CI=true, fails) a test that cannot run here.
func skip(t testing.TB, why string) {
	t.Helper()
	testenv.Skip(t, why)
}

// Start runs a cluster of n members (1 or 3) and waits until it has a
// leader. Every member is killed and its data removed when the test ends.
func Start(t testing.TB, n int) *Cluster {
	t.Helper()
	if why := Available(); why != "" {
		skip(t, why)
	}
	if n != 1 && n != 3 {
		t.Fatalf("etcdtest: %d members: want 1 or 3", n)
	}
	base := ""
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		base = "/dev/shm" // in memory: no fsync latency in tests
	}
	dir, err := os.MkdirTemp(base, "gitfleet-etcdtest-")
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{t: t, Dir: dir}
	t.Cleanup(func() {
		c.stopAll()
		os.RemoveAll(dir)
	})
	ports := freePorts(t, 2*n)
	var initial []string
	for i := 0; i < n; i++ {
		m := &Member{Name: fmt.Sprintf("m%d", i+1), ClientPort: ports[2*i], PeerPort: ports[2*i+1], log: &syncBuffer{}}
		m.dataDir = fmt.Sprintf("%s/%s.etcd", dir, m.Name)
		initial = append(initial, fmt.Sprintf("%s=http://127.0.0.1:%d", m.Name, m.PeerPort))
		c.Members = append(c.Members, m)
	}
	for _, m := range c.Members {
		client := m.Endpoint()
		peer := "http://127.0.0.1:" + strconv.Itoa(m.PeerPort)
		m.args = []string{
			"--name", m.Name, "--data-dir", m.dataDir,
			"--listen-client-urls", client, "--advertise-client-urls", client,
			"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
			"--initial-cluster", strings.Join(initial, ","),
			"--initial-cluster-state", "new", "--initial-cluster-token", dir,
			"--logger", "zap", "--log-outputs", "stderr", "--log-level", "warn",
		}
		if err := m.start(); err != nil {
			t.Fatalf("etcdtest: start %s: %v", m.Name, err)
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, m := range c.Members {
				t.Logf("etcd %s log (last lines):\n%s", m.Name, m.log.tail(40))
			}
		}
	})
	c.WaitHealthy(30 * time.Second)
	return c
}

// Endpoints are the client URLs of every member, killed or not.
func (c *Cluster) Endpoints() []string {
	out := make([]string, len(c.Members))
	for i, m := range c.Members {
		out[i] = m.Endpoint()
	}
	return out
}

// WaitHealthy waits until every running member answers /health with a
// leader, and fails the test after timeout.
func (c *Cluster) WaitHealthy(timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		bad := ""
		for _, m := range c.Members {
			if !m.running() {
				continue
			}
			if err := m.healthy(); err != nil {
				bad = m.Name + ": " + err.Error()
				break
			}
		}
		if bad == "" {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("etcdtest: cluster not healthy after %s: %s", timeout, bad)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Leader is the index of the member that says it leads, or -1.
func (c *Cluster) Leader() int {
	for i, m := range c.Members {
		if !m.running() {
			continue
		}
		if v, err := m.Metric("etcd_server_is_leader"); err == nil && v == 1 {
			return i
		}
	}
	return -1
}

// Kill sends SIGKILL to the member and waits until it is gone.
func (m *Member) Kill() {
	m.mu.Lock()
	cmd, done := m.cmd, m.done
	m.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGCONT)
	cmd.Process.Kill()
	<-done
	m.mu.Lock()
	m.cmd, m.stopped = nil, false
	m.mu.Unlock()
}

// Stop pauses the member with SIGSTOP: its connections stay open and hang.
func (m *Member) Stop() { m.signal(syscall.SIGSTOP, true) }

// Continue resumes a member paused by Stop.
func (m *Member) Continue() { m.signal(syscall.SIGCONT, false) }

func (m *Member) signal(sig syscall.Signal, stopped bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil {
		m.cmd.Process.Signal(sig)
		m.stopped = stopped
	}
}

// Restart starts a killed member again on its data directory and ports.
func (m *Member) Restart() error {
	m.mu.Lock()
	alive := m.cmd != nil
	m.mu.Unlock()
	if alive {
		return fmt.Errorf("etcdtest: %s is still running", m.Name)
	}
	return m.start()
}

func (m *Member) start() error {
	cmd := exec.Command(Binary, m.args...)
	cmd.Stdout, cmd.Stderr = m.log, m.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	m.mu.Lock()
	m.cmd, m.done, m.stopped = cmd, done, false
	m.mu.Unlock()
	return nil
}

// running says the member's process runs and is not paused.
func (m *Member) running() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cmd != nil && !m.stopped
}

func (c *Cluster) stopAll() {
	for _, m := range c.Members {
		m.Kill()
	}
}

func (m *Member) get(path string) ([]byte, error) {
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(m.Endpoint() + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return body, nil
}

func (m *Member) healthy() error {
	body, err := m.get("/health")
	if err != nil {
		return err
	}
	if !bytes.Contains(body, []byte(`"health":"true"`)) {
		return fmt.Errorf("/health: %s", bytes.TrimSpace(body))
	}
	return nil
}

// Metrics is the member's Prometheus exposition (/metrics).
func (m *Member) Metrics() (string, error) {
	body, err := m.get("/metrics")
	return string(body), err
}

// Metric sums every series of the metric name (all label sets) in the
// member's /metrics, e.g. grpc_server_msg_received_total.
func (m *Member) Metric(name string) (float64, error) {
	text, err := m.Metrics()
	if err != nil {
		return 0, err
	}
	return SumMetric(text, name, ""), nil
}

// SumMetric sums the series of name in a Prometheus text exposition whose
// labels contain every label pair of match (`a="b"`, comma-separated).
func SumMetric(text, name, match string) float64 {
	sum := 0.0
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		labels := ""
		if strings.HasPrefix(rest, "{") {
			end := strings.Index(rest, "}")
			if end < 0 {
				continue
			}
			labels, rest = rest[1:end], rest[end+1:]
		} else if !strings.HasPrefix(rest, " ") {
			continue // a longer name with the same prefix
		}
		if !hasLabels(labels, match) {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64); err == nil {
			sum += v
		}
	}
	return sum
}

func hasLabels(labels, match string) bool {
	if match == "" {
		return true
	}
	have := map[string]bool{}
	for _, p := range strings.Split(labels, ",") {
		have[strings.TrimSpace(p)] = true
	}
	for _, p := range strings.Split(match, ",") {
		if !have[strings.TrimSpace(p)] {
			return false
		}
	}
	return true
}

// freePorts finds n distinct free loopback ports, holding them all open
// until every one is found so none is handed out twice.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports
}

// syncBuffer is a log buffer that keeps the last 1 MiB.
type syncBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - 1<<20; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *syncBuffer) tail(lines int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	all := strings.Split(strings.TrimRight(string(b.buf), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}
