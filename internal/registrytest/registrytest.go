// Package registrytest runs a real OCI registry for tests: Debian's
// docker-registry (the CNCF distribution registry) on a free loopback port,
// over plain HTTP, with htpasswd auth (a bcrypt line made by htpasswd from
// apache2-utils). Without them tests skip, unless CI=true: then they fail.
// It also pushes artifacts to it with oras-go, as `oras push` would.
package registrytest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/testenv"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
)

// Registry is a running registry.
type Registry struct {
	// Addr is 127.0.0.1:port.
	Addr     string
	User     string
	Password string
	Dir      string

	mu   sync.Mutex
	logs bytes.Buffer
	stop func()
}

// Available says why a registry cannot run here, or "".
func Available() string {
	for _, tool := range []string{"docker-registry", "htpasswd"} {
		if _, err := exec.LookPath(tool); err != nil {
			return tool + " is needed for registry tests (Debian: apt-get install docker-registry apache2-utils)"
		}
	}
	return ""
}

// Start runs a registry until the test ends. Its requests need basic auth
// as User with Password.
func Start(t testing.TB) *Registry {
	t.Helper()
	if why := Available(); why != "" {
		testenv.Skip(t, why)
	}
	dir := t.TempDir()
	r := &Registry{User: "ci", Password: "s3cret-push", Dir: dir}
	out, err := exec.Command("htpasswd", "-Bbn", r.User, r.Password).Output()
	if err != nil {
		t.Fatalf("htpasswd: %v", err)
	}
	htpasswd := filepath.Join(dir, "htpasswd")
	os.WriteFile(htpasswd, bytes.TrimSpace(out), 0o600)
	r.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	cfg := filepath.Join(dir, "config.yml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`version: 0.1
log: {level: warn, accesslog: {disabled: true}}
storage:
  filesystem: {rootdirectory: %s}
  delete: {enabled: true}
http: {addr: %s, secret: registrytest}
auth:
  htpasswd: {realm: registrytest, path: %s}
`, filepath.Join(dir, "data"), r.Addr, htpasswd)), 0o600)
	cmd := exec.Command("docker-registry", "serve", cfg)
	cmd.Stdout, cmd.Stderr = (*logWriter)(r), (*logWriter)(r)
	if err := cmd.Start(); err != nil {
		t.Fatalf("docker-registry: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	r.stop = func() {
		cmd.Process.Kill()
		<-done
	}
	t.Cleanup(r.stop)
	r.waitReady(t, done)
	return r
}

func (r *Registry) waitReady(t testing.TB, done chan struct{}) {
	t.Helper()
	for i := 0; i < 200; i++ {
		select {
		case <-done:
			t.Fatalf("docker-registry exited:\n%s", r.Logs())
		default:
		}
		resp, err := http.Get("http://" + r.Addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("docker-registry did not answer on %s:\n%s", r.Addr, r.Logs())
}

// Stop ends the registry before the test does (it stays stopped).
func (r *Registry) Stop(t testing.TB) {
	t.Helper()
	r.stop()
}

// Logs is what the registry wrote.
func (r *Registry) Logs() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.logs.String()
}

type logWriter Registry

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.logs.Len() < 1<<20 {
		w.logs.Write(p)
	}
	return len(p), nil
}

func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Repository is a client of repository name (team/web) with the pusher's
// credentials.
func (r *Registry) Repository(t testing.TB, name string) *remote.Repository {
	t.Helper()
	repo, err := remote.NewRepository(r.Addr + "/" + name)
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	repo.Client = &auth.Client{
		Credential: auth.StaticCredential(r.Addr, auth.Credential{Username: r.User, Password: r.Password}),
		Cache:      auth.NewCache(),
	}
	return repo
}

// Layer is one file pushed as a layer, as `oras push ref file:mediaType`
// does (title annotation = file name).
type Layer struct {
	Name      string
	MediaType string // default: the OCI tar layer type, oras push's default
	Data      []byte
}

// Push pushes the layers as an OCI 1.1 artifact of repository name, tags
// it, and returns the manifest's digest ("sha256:…").
func (r *Registry) Push(t testing.TB, name, tag string, layers ...Layer) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	repo := r.Repository(t, name)
	var descs []ocispec.Descriptor
	for _, l := range layers {
		mt := l.MediaType
		if mt == "" {
			mt = ocispec.MediaTypeImageLayer
		}
		desc := content.NewDescriptorFromBytes(mt, l.Data)
		desc.Annotations = map[string]string{ocispec.AnnotationTitle: l.Name}
		if err := repo.Push(ctx, desc, bytes.NewReader(l.Data)); err != nil {
			t.Fatalf("push layer %s: %v", l.Name, err)
		}
		descs = append(descs, desc)
	}
	m, err := oras.PackManifest(ctx, repo, oras.PackManifestVersion1_1, "application/vnd.gitfleet.test.artifact", oras.PackManifestOptions{Layers: descs})
	if err != nil {
		t.Fatalf("push manifest: %v", err)
	}
	if err := repo.Tag(ctx, m, tag); err != nil {
		t.Fatalf("tag %s: %v", tag, err)
	}
	return m.Digest.String()
}
