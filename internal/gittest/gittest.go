// Package gittest gives tests real Git remotes: bare repositories made and
// changed with the git command, served over smart HTTP by git http-backend
// (through net/http/cgi) or as file:// URLs. The git binary is needed by
// tests only; gitfleet itself never runs it. Without git, tests skip, unless
// CI=true: then they fail.
package gittest

import (
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gitfleet/gitfleet/internal/testenv"
)

// Remote is a bare repository with a work clone that pushes to it.
type Remote struct {
	t    testing.TB
	Bare string // the bare repository: what is served
	Work string // a clone to commit in
}

// Git runs git in dir and returns its trimmed output; it fails the test on
// error.
func Git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_CONFIG_NOSYSTEM=1", "HOME="+dir, "GIT_AUTHOR_NAME=Ada", "GIT_AUTHOR_EMAIL=ada@example.com",
		"GIT_COMMITTER_NAME=Ada", "GIT_COMMITTER_EMAIL=ada@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// NewRemote makes an empty bare repository named name under a temporary
// root, and a work clone of it on branch main.
func NewRemote(t testing.TB, root, name string) *Remote {
	t.Helper()
	need(t)
	r := &Remote{t: t, Bare: filepath.Join(root, name+".git"), Work: filepath.Join(t.TempDir(), name)}
	Git(t, root, "init", "-q", "--bare", "-b", "main", r.Bare)
	Git(t, r.Bare, "config", "uploadpack.allowReachableSHA1InWant", "true")
	Git(t, root, "init", "-q", "-b", "main", r.Work)
	Git(t, r.Work, "config", "commit.gpgsign", "false")
	Git(t, r.Work, "config", "tag.gpgsign", "false")
	Git(t, r.Work, "remote", "add", "origin", r.Bare)
	return r
}

// Write sets files (path → content; "" removes the file) in the work clone.
func (r *Remote) Write(files map[string]string) {
	r.t.Helper()
	for p, c := range files {
		full := filepath.Join(r.Work, p)
		if c == "" {
			os.Remove(full)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
}

// Commit commits everything with extra git commit arguments (such as -S)
// and returns the new commit's hash.
func (r *Remote) Commit(msg string, args ...string) string {
	r.t.Helper()
	Git(r.t, r.Work, "add", "-A")
	Git(r.t, r.Work, append([]string{"commit", "-q", "--allow-empty", "-m", msg}, args...)...)
	return Git(r.t, r.Work, "rev-parse", "HEAD")
}

// Push pushes branch main and every tag, forcing.
func (r *Remote) Push() {
	r.t.Helper()
	Git(r.t, r.Work, "push", "-q", "--force", "origin", "main")
	Git(r.t, r.Work, "push", "-q", "--force", "--tags", "origin")
}

// Run runs any git command in the work clone.
func (r *Remote) Run(args ...string) string {
	r.t.Helper()
	return Git(r.t, r.Work, args...)
}

// FileURL is the remote as a file:// URL.
func (r *Remote) FileURL() string { return "file://" + r.Bare }

// Server serves every bare repository under root over smart HTTP. When
// user is not empty, requests need basic auth with user and password.
type Server struct {
	*httptest.Server
	Requests func() int
}

// need skips a test when git is missing, or fails it with CI=true, where
// every test must run.
func need(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		skip(t, "git is needed for Git remote tests (Debian: git)")
	}
}

func skip(t testing.TB, why string) {
	t.Helper()
	testenv.Skip(t, why)
}

// Serve starts git http-backend for root on a loopback address.
func Serve(t testing.TB, root, user, password string) *Server {
	t.Helper()
	need(t)
	execPath := Git(t, root, "--exec-path")
	if _, err := os.Stat(filepath.Join(execPath, "git-http-backend")); err != nil {
		skip(t, "git http-backend is needed for Git remotes over HTTP: "+err.Error())
	}
	backend := &cgi.Handler{
		Path: filepath.Join(execPath, "git-http-backend"),
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_NOSYSTEM=1"},
	}
	var count countingHandler
	count.next = backend
	var h http.Handler = &count
	if user != "" {
		h = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			u, p, ok := req.BasicAuth()
			if !ok || u != user || p != password {
				w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			count.ServeHTTP(w, req)
		})
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &Server{Server: srv, Requests: count.get}
}

type countingHandler struct {
	next http.Handler
	mu   sync.Mutex
	n    int
}

func (c *countingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	c.next.ServeHTTP(w, r)
}

func (c *countingHandler) get() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}
