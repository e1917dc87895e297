package artifacttest

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// Server serves files over HTTPS with httptest's certificate (for
// 127.0.0.1), counts requests per path, and can hang, redirect or ask for
// a bearer token.
type Server struct {
	*httptest.Server

	mu       sync.Mutex
	files    map[string][]byte
	hits     map[string]int
	auth     map[string]string // last Authorization header per path
	hang     map[string]bool
	redirect map[string]string
	token    string // the Authorization header required, if any
	stop     chan struct{}
}

// NewHTTPS starts a server until the test ends.
func NewHTTPS(t testing.TB) *Server {
	t.Helper()
	s := &Server{
		files: map[string][]byte{}, hits: map[string]int{}, auth: map[string]string{},
		hang: map[string]bool{}, redirect: map[string]string{}, stop: make(chan struct{}),
	}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		close(s.stop) // ends hanging handlers, so Close does not wait for them
		s.Close()
	})
	return s
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	p := r.URL.Path
	s.hits[p]++
	s.auth[p] = r.Header.Get("Authorization")
	data, ok := s.files[p]
	hang, to, token := s.hang[p], s.redirect[p], s.token
	s.mu.Unlock()
	switch {
	case hang:
		select {
		case <-r.Context().Done():
		case <-s.stop:
		}
	case to != "":
		http.Redirect(w, r, to, http.StatusFound)
	case token != "" && r.Header.Get("Authorization") != token:
		http.Error(w, "no", http.StatusUnauthorized)
	case !ok:
		http.NotFound(w, r)
	default:
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(data)
	}
}

// Put serves data at path.
func (s *Server) Put(path string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[path] = data
}

// Hits is the number of requests for path.
func (s *Server) Hits(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[path]
}

// Authorization is the Authorization header of the last request for path.
func (s *Server) Authorization(path string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.auth[path]
}

// Hang makes requests for path wait until the client gives up.
func (s *Server) Hang(path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hang[path] = true
}

// Redirect answers requests for path with a 302 to the URL to.
func (s *Server) Redirect(path, to string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.redirect[path] = to
}

// RequireAuthorization makes every file need this Authorization header
// ("Bearer t", "Basic …").
func (s *Server) RequireAuthorization(header string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = header
}

// URLOf is the https URL of path.
func (s *Server) URLOf(path string) string { return s.URL + "/" + strings.TrimPrefix(path, "/") }

// ClientTLS trusts the test certificate (and nothing else).
func (s *Server) ClientTLS() *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(s.Certificate())
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}
