package artifact

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/blobcache"
	at "github.com/gitfleet/gitfleet/internal/artifacttest"
)

// BenchmarkStreamLargeArtifact measures the peak memory of the process
// while it downloads a large tar.gz over HTTPS into the cache, checks its
// digest and extracts it (Resolve by Release digest, then Fetch). It
// writes GITFLEET_BENCH_ARTIFACT_MB MiB (default 1024) of random content
// to a temporary file first (half in one file, half in 1 MiB files), so it
// needs three times that on disk and is skipped unless the variable is
// set:
//
//	GITFLEET_BENCH_ARTIFACT_MB=1024 go test -run '^$' -bench StreamLargeArtifact -benchtime 1x ./artifact/
//
// Reported: peak-RSS-MB (VmHWM of /proc/self/status, reset before the
// fetch), peak-heap-MB (sampled every 5 ms), MB/s.
func BenchmarkStreamLargeArtifact(b *testing.B) {
	mb, _ := strconv.Atoi(os.Getenv("GITFLEET_BENCH_ARTIFACT_MB"))
	if mb <= 0 {
		b.Skip("set GITFLEET_BENCH_ARTIFACT_MB (e.g. 1024) to run: it writes 3x that many MiB to disk")
	}
	size := int64(mb) << 20
	dir := b.TempDir()
	archivePath := filepath.Join(dir, "web.tar.gz")
	digest := writeBigArchive(b, archivePath, size)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, archivePath)
	}))
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())

	for i := 0; i < b.N; i++ {
		cacheDir := filepath.Join(dir, "cache"+strconv.Itoa(i))
		c, err := blobcache.Open(cacheDir, blobcache.Options{MaxBytes: 4 * size})
		if err != nil {
			b.Fatal(err)
		}
		f, err := New(Options{Cache: c, TLS: &tls.Config{RootCAs: pool}, Timeout: time.Hour, MaxDownloadBytes: 2 * size})
		if err != nil {
			b.Fatal(err)
		}
		s, err := f.HTTP(HTTPConfig{App: "web", URL: srv.URL + "/builds/{{.Version}}/web.tar.gz"})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		debug.FreeOSMemory()
		resetPeakRSS(b)
		var peakHeap atomic.Uint64
		stop := sampleHeap(&peakHeap)
		start := time.Now()
		a, err := s.Fetch(context.Background(), Ref{Version: "v1", Digest: digest}, blobcache.Digest(digest), nil)
		elapsed := time.Since(start)
		stop()
		if err != nil {
			b.Fatal(err)
		}
		if a.Manifest.Size() != size {
			b.Fatalf("extracted %d bytes, want %d", a.Manifest.Size(), size)
		}
		b.ReportMetric(float64(peakRSS(b))/(1<<20), "peak-RSS-MB")
		b.ReportMetric(float64(peakHeap.Load())/(1<<20), "peak-heap-MB")
		b.ReportMetric(float64(size)/(1<<20)/elapsed.Seconds(), "MB/s")
		os.RemoveAll(cacheDir)
	}
}

// writeBigArchive writes a tar.gz of size bytes of random content and
// returns its digest.
func writeBigArchive(b *testing.B, p string, size int64) string {
	b.Helper()
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	w := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<20)
	rng := rand.NewChaCha8([32]byte{1})
	half := size / 2
	entries := []at.Entry{{Name: "big.bin", Size: half, Mode: 0o644}}
	for n := int64(0); n < size-half; n += 1 << 20 {
		entries = append(entries, at.Entry{Name: fmt.Sprintf("files/%05d.bin", n>>20), Size: min(1<<20, size-half-n), Mode: 0o644})
	}
	if err := at.WriteTarFrom(w, entries, at.Gzip, rng); err != nil {
		b.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	return fmt.Sprintf("sha256:%x", h.Sum(nil))
}

// resetPeakRSS resets VmHWM (Linux: clear_refs 5).
func resetPeakRSS(b *testing.B) {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Skipf("cannot reset the peak RSS here: %v", err)
	}
}

// peakRSS is VmHWM in bytes.
func peakRSS(b *testing.B) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	b.Fatal("no VmHWM in /proc/self/status")
	return 0
}

// sampleHeap records the largest heap in use until stop is called.
func sampleHeap(peak *atomic.Uint64) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); <-finished }
}
