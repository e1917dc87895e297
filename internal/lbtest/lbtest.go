// Package lbtest runs a real HAProxy for tests, with its runtime API on a
// unix socket, in front of servers given by the test; it also builds the
// tests' tiny version app and drives a bounded loopback load through
// HAProxy. Without haproxy, tests skip, unless CI=true.
package lbtest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/testenv"
)

// Backend is one server behind HAProxy.
type Backend struct {
	Name string // its name in HAProxy
	Addr string // host:port
}

// HAProxy is a running haproxy.
type HAProxy struct {
	Socket   string // runtime API, level admin
	Frontend string // host:port that clients use
	Backend  string // the backend's name
	logs     *bytes.Buffer
	cmd      *exec.Cmd
}

func skip(t testing.TB, why string) {
	t.Helper()
	testenv.Skip(t, why)
}

// FreePort returns a TCP port free on 127.0.0.1 now.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Start runs haproxy with one frontend and the backend "web" of servers,
// all of them ready, health-checked with GET /health every 100ms. It is
// stopped when the test ends.
func Start(t testing.TB, servers []Backend) *HAProxy {
	t.Helper()
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		if _, err = os.Stat("/usr/sbin/haproxy"); err != nil {
			skip(t, "haproxy is needed (Debian: apt-get install haproxy)")
		}
		bin = "/usr/sbin/haproxy"
	}
	dir := t.TempDir()
	h := &HAProxy{Socket: filepath.Join(dir, "admin.sock"), Frontend: "127.0.0.1:" + strconv.Itoa(FreePort(t)), Backend: "web", logs: &bytes.Buffer{}}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, `global
    stats socket %s mode 600 level admin
    maxconn 4000
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout http-keep-alive 10s
    retries 3
    option redispatch 1
    retry-on all-retryable-errors
frontend fe
    bind %s
    default_backend web
backend web
    balance roundrobin
    option httpchk GET /health
    default-server inter 100ms fastinter 100ms downinter 100ms rise 1 fall 2
`, h.Socket, h.Frontend)
	for _, s := range servers {
		fmt.Fprintf(&cfg, "    server %s %s check\n", s.Name, s.Addr)
	}
	cfgFile := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfgFile, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-c", "-f", cfgFile).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s", err, out)
	}
	h.cmd = exec.Command(bin, "-db", "-f", cfgFile)
	h.cmd.Stdout, h.cmd.Stderr = h.logs, h.logs
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { h.cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		h.cmd.Process.Kill()
		<-done
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("unix", h.Socket); err == nil {
			c.Close()
			return h
		}
		select {
		case <-done:
			t.Fatalf("haproxy exited: %s", h.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("haproxy does not open %s: %s", h.Socket, h.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Command sends one runtime API command and returns the answer.
func (h *HAProxy) Command(t testing.TB, line string) string {
	t.Helper()
	c, err := net.Dial("unix", h.Socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, line+"\n")
	b, _ := io.ReadAll(c)
	return string(b)
}

// BuildApp builds the version app once per test binary and returns its
// path.
func BuildApp(t testing.TB) string {
	t.Helper()
	appOnce.Do(func() {
		dir, err := os.MkdirTemp("", "gitfleet-versionapp-")
		if err != nil {
			appErr = err
			return
		}
		appPath = filepath.Join(dir, "versionapp")
		out, err := exec.Command("go", "build", "-o", appPath, "github.com/gitfleet/gitfleet/internal/lbtest/versionapp").CombinedOutput()
		if err != nil {
			appErr = fmt.Errorf("go build versionapp: %v\n%s", err, out)
		}
	})
	if appErr != nil {
		t.Fatal(appErr)
	}
	return appPath
}

var (
	appOnce sync.Once
	appPath string
	appErr  error
)

// Load is a bounded loopback load: workers send GET requests until Stop,
// or until max requests or the time bound, whichever comes first.
type Load struct {
	total, failed atomic.Int64
	cancel        context.CancelFunc
	wg            sync.WaitGroup
	mu            sync.Mutex
	errs          []string
	versions      map[string]int64
}

// StartLoad sends requests to url (which must be a loopback address) from
// workers goroutines over kept-alive connections.
func StartLoad(t testing.TB, url string, workers int, max int64, bound time.Duration) *Load {
	t.Helper()
	if !strings.HasPrefix(url, "http://127.") {
		t.Fatalf("load only to loopback, not %s", url)
	}
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	l := &Load{cancel: cancel, versions: map[string]int64{}}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	for w := 0; w < workers; w++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for ctx.Err() == nil && l.total.Load() < max {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				resp, err := client.Do(req)
				if ctx.Err() != nil {
					return // stopped: the request in flight is not counted
				}
				l.total.Add(1)
				if err != nil {
					l.fail(err.Error())
					continue
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					l.fail(fmt.Sprintf("%s %v %q", resp.Status, err, body))
					continue
				}
				l.mu.Lock()
				l.versions[strings.TrimSpace(string(body))]++
				l.mu.Unlock()
			}
		}()
	}
	return l
}

func (l *Load) fail(msg string) {
	l.failed.Add(1)
	l.mu.Lock()
	if len(l.errs) < 10 {
		l.errs = append(l.errs, msg)
	}
	l.mu.Unlock()
}

// Total is the number of requests answered or failed so far.
func (l *Load) Total() int64 { return l.total.Load() }

// Stop ends the load and returns the counts, a sample of the failures and
// the requests answered by each version.
func (l *Load) Stop() (total, failed int64, errs []string, versions map[string]int64) {
	l.cancel()
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total.Load(), l.failed.Load(), append([]string(nil), l.errs...), l.versions
}
