package source

import (
	"bytes"
	"compress/zlib"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/tree"
)

// A hostile remote may send a reference list or a pack that never ends.
// These tests serve one from a fake Git remote on loopback and check that
// the poll fails with an error naming the bound, and that what the remote
// managed to send stays within the bound plus the buffers between the two
// ends (sockets, SSH window), not within what it could send in the timeout.

const (
	// fakeStopAfter is where the fake remote stops by itself, so that a
	// client without a bound cannot make the test run away.
	fakeStopAfter = 64 << 20
	// bufferSlack is what the kernel's socket buffers (and an SSH
	// channel's window) take in after the client stopped reading.
	bufferSlack = 12 << 20
	fakeHash    = "1111111111111111111111111111111111111111"
)

func pkt(s string) string { return fmt.Sprintf("%04x%s", len(s)+4, s) }

// refChunk is many reference lines, written again and again for an endless
// reference list.
func refChunk() []byte {
	var b strings.Builder
	for i := 0; b.Len() < 64<<10; i++ {
		b.WriteString(pkt(fmt.Sprintf("%s refs/heads/branch-%08d\n", fakeHash, i)))
	}
	return []byte(b.String())
}

// packObject is one blob of incompressible content as a pack entry,
// written again and again for an endless pack.
func packObject(t *testing.T) []byte {
	data := make([]byte, 64<<10)
	rand.Read(data)
	var b bytes.Buffer
	size := len(data)
	c := byte(3<<4) | byte(size&0x0f) // type blob
	size >>= 4
	for size > 0 {
		b.WriteByte(c | 0x80)
		c = byte(size & 0x7f)
		size >>= 7
	}
	b.WriteByte(c)
	z := zlib.NewWriter(&b)
	if _, err := z.Write(data); err != nil {
		t.Fatal(err)
	}
	z.Close()
	return b.Bytes()
}

// fakeRemote is a smart-HTTP Git remote whose reference list or pack never
// ends. It counts the bytes it managed to send.
type fakeRemote struct {
	endlessRefs bool
	object      []byte
	objects     uint32 // the count the pack's header announces
	served      atomic.Int64
}

// stream writes head, then chunk until the client stops reading or
// fakeStopAfter is reached.
func (f *fakeRemote) stream(w io.Writer, head string, chunk []byte, tail string) {
	n, err := io.WriteString(w, head)
	f.served.Add(int64(n))
	for err == nil && f.served.Load() < fakeStopAfter {
		n, err = w.Write(chunk)
		f.served.Add(int64(n))
	}
	if err == nil {
		io.WriteString(w, tail)
	}
}

const fakeCaps = "multi_ack_detailed no-done shallow ofs-delta agent=git/fake"

func (f *fakeRemote) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasSuffix(r.URL.Path, "/info/refs"):
		w.Header().Set("Content-Type", "application/x-git-upload-pack-advertisement")
		head := pkt("# service=git-upload-pack\n") + "0000" +
			pkt(fakeHash+" HEAD\x00"+fakeCaps+"\n") + pkt(fakeHash+" refs/heads/main\n") + pkt(fakeHash+" refs/tags/v1\n")
		if !f.endlessRefs {
			n, _ := io.WriteString(w, head+"0000")
			f.served.Add(int64(n))
			return
		}
		f.stream(w, head, refChunk(), "0000")
	case strings.HasSuffix(r.URL.Path, "/git-upload-pack"):
		io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
		w.Header().Set("Content-Type", "application/x-git-upload-pack-result")
		// An empty shallow update, NAK, and a pack whose objects keep
		// coming.
		var hdr [12]byte
		copy(hdr[:], "PACK")
		binary.BigEndian.PutUint32(hdr[4:], 2)
		binary.BigEndian.PutUint32(hdr[8:], f.objects)
		f.stream(w, "0000"+pkt("NAK\n")+string(hdr[:]), f.object, "")
	default:
		http.NotFound(w, r)
	}
}

// pollBounded polls a Git source (tag v1) bounded by maxBytes from url and
// returns the error, and the bytes allocated meanwhile.
func pollBounded(t *testing.T, url string, maxBytes int64, auth *GitAuth) (error, uint64) {
	t.Helper()
	g, m := newGit(t, url, GitRef{Tag: "v1"})
	g.Limits = tree.Limits{MaxBytes: maxBytes}
	g.Auth = auth
	g.Timeout = time.Minute // the bound, not the timeout, must end the poll
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := g.Snapshot(context.Background())
	runtime.ReadMemStats(&after)
	if err != nil && (len(m.fetches) != 1 || m.fetches[0] != classify(err)) {
		t.Errorf("fetch metrics %v, want the one failure %s", m.fetches, classify(err))
	}
	return err, after.TotalAlloc - before.TotalAlloc
}

func checkBounded(t *testing.T, err error, want string, served int64, bound int64, alloc uint64) {
	t.Helper()
	t.Logf("served %d bytes (bound %d), allocated %d bytes; error: %v", served, bound, alloc, err)
	var pe *PollError
	if !errors.As(err, &pe) || pe.Reason != ReasonTooLarge || !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want a too_large poll error saying %q", err, want)
	}
	if served > bound+bufferSlack {
		t.Errorf("the remote sent %d bytes, want at most the bound %d plus %d of buffers", served, bound, bufferSlack)
	}
	// Memory follows the bytes read: a few times the bound, not the
	// remote's imagination.
	if limit := uint64(bound) * 24; alloc > limit {
		t.Errorf("the poll allocated %d bytes, want under %d (24 times the bound)", alloc, limit)
	}
}

// TestGitEndlessRefListIsBoundedOverHTTP serves a reference list that never
// ends: the poll fails with "reference list larger than 1048576 bytes".
func TestGitEndlessRefListIsBoundedOverHTTP(t *testing.T) {
	f := &fakeRemote{endlessRefs: true}
	srv := httptest.NewServer(f)
	defer srv.Close()
	const maxBytes = 1 << 20
	refs, _ := remoteBounds(maxBytes)
	err, alloc := pollBounded(t, srv.URL+"/fleet.git", maxBytes, nil)
	checkBounded(t, err, fmt.Sprintf("list %s/fleet.git: reference list larger than %d bytes", srv.URL, refs), f.served.Load(), refs, alloc)
}

// TestGitEndlessPackIsBoundedOverHTTP serves a finite reference list and a
// pack that never ends: the fetch fails with "pack larger than N bytes".
func TestGitEndlessPackIsBoundedOverHTTP(t *testing.T) {
	f := &fakeRemote{object: packObject(t), objects: 100_000}
	srv := httptest.NewServer(f)
	defer srv.Close()
	const maxBytes = 1 << 20
	_, pack := remoteBounds(maxBytes)
	err, alloc := pollBounded(t, srv.URL+"/fleet.git", maxBytes, nil)
	checkBounded(t, err, fmt.Sprintf("fetch tag v1 from %s/fleet.git: pack larger than %d bytes", srv.URL, pack), f.served.Load(), pack, alloc)
}

// TestGitPackAnnouncingTooManyObjectsIsRefused serves a pack whose header
// announces 2^32-1 objects: go-git would size an index of 128 GiB by it
// before reading a single object. The header is refused first.
func TestGitPackAnnouncingTooManyObjectsIsRefused(t *testing.T) {
	f := &fakeRemote{object: packObject(t), objects: 0xffffffff}
	srv := httptest.NewServer(f)
	defer srv.Close()
	const maxBytes = 1 << 20
	_, pack := remoteBounds(maxBytes)
	err, alloc := pollBounded(t, srv.URL+"/fleet.git", maxBytes, nil)
	want := fmt.Sprintf("pack announces 4294967295 objects, more than the %d a pack within %d bytes may hold", packObjectsBound(pack), pack)
	checkBounded(t, err, want, f.served.Load(), pack, alloc)
}

// TestGitArtifactEndlessRefListIsBounded: Git artifacts share the bound.
func TestGitArtifactEndlessRefListIsBounded(t *testing.T) {
	f := &fakeRemote{endlessRefs: true}
	srv := httptest.NewServer(f)
	defer srv.Close()
	a := &GitArtifacts{Dir: filepath.Join(t.TempDir(), "artifacts"), Timeout: time.Minute, Limits: tree.Limits{MaxBytes: 1 << 20}}
	refs, _ := remoteBounds(1 << 20)
	_, _, err := a.Artifact(context.Background(), srv.URL+"/app.git", "v1", "")
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), fmt.Sprintf("reference list larger than %d bytes", refs)) {
		t.Fatalf("got %v, want a reference list over its bound", err)
	}
	if served := f.served.Load(); served > refs+bufferSlack {
		t.Errorf("the remote sent %d bytes, want at most %d plus %d of buffers", served, refs, bufferSlack)
	}
}

func TestRemoteBounds(t *testing.T) {
	tests := []struct {
		maxBytes, refs, pack int64
	}{
		{1 << 20, 1 << 20, 3 << 20},
		{1 << 30, 64 << 20, 2<<30 + 1<<20},
		{256 << 20, 16 << 20, 512<<20 + 1<<20},
		{1 << 62, 64 << 20, 1<<63 - 1},
	}
	for _, tt := range tests {
		if refs, pack := remoteBounds(tt.maxBytes); refs != tt.refs || pack != tt.pack {
			t.Errorf("remoteBounds(%d) = %d, %d; want %d, %d", tt.maxBytes, refs, pack, tt.refs, tt.pack)
		}
	}
}
