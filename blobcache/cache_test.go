package blobcache

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a fake time source that advances a second at each call, so the
// recency recorded in modification times is exact.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

func open(t *testing.T, dir string, max int64) *Cache {
	t.Helper()
	ck := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	c, err := Open(dir, Options{MaxBytes: max, Now: ck.now})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func put(t *testing.T, c *Cache, content string) Digest {
	t.Helper()
	d, n, err := c.Put(strings.NewReader(content), PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(len(content)) {
		t.Fatalf("put wrote %d bytes, want %d", n, len(content))
	}
	return d
}

func fill(b byte, n int) string { return strings.Repeat(string([]byte{b}), n) }

func TestPutOpenRoundTrip(t *testing.T) {
	c := open(t, t.TempDir(), 0)
	d := put(t, c, "hello")
	if want := FromBytes([]byte("hello")); d != want {
		t.Fatalf("digest %s, want %s", d, want)
	}
	if !c.Has(d) {
		t.Fatal("Has is false after Put")
	}
	got, err := c.ReadAll(d, 0)
	if err != nil || string(got) != "hello" {
		t.Fatalf("ReadAll = %q, %v; want hello", got, err)
	}
	if _, err := c.Open(FromBytes([]byte("other"))); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open of a missing blob: %v, want ErrNotFound", err)
	}
	if s := c.Stats(); s.Blobs != 1 || s.Bytes != 5 {
		t.Fatalf("stats %+v, want 1 blob of 5 bytes", s)
	}
}

func TestPutRefusesWrongDigestAndTooLarge(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir, 0)
	want := FromBytes([]byte("expected"))
	if _, _, err := c.Put(strings.NewReader("tampered"), PutOptions{Want: want}); !errors.Is(err, ErrMismatch) {
		t.Fatalf("Put with a wrong digest: %v, want ErrMismatch", err)
	}
	if _, _, err := c.Put(strings.NewReader("0123456789"), PutOptions{MaxBytes: 9}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Put over MaxBytes: %v, want ErrTooLarge", err)
	}
	if _, _, err := c.Put(strings.NewReader("012345678"), PutOptions{MaxBytes: 9}); err != nil {
		t.Fatalf("Put of exactly MaxBytes: %v", err)
	}
	if s := c.Stats(); s.Blobs != 1 {
		t.Fatalf("%d blobs stored, want 1 (refused content stored)", s.Blobs)
	}
	if left, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

func TestEvictionTakesLeastRecentlyUsedFirst(t *testing.T) {
	c := open(t, t.TempDir(), 300)
	a, b, cc := put(t, c, fill('a', 100)), put(t, c, fill('b', 100)), put(t, c, fill('c', 100))
	// Use a: b is now the least recently used.
	if _, err := c.ReadAll(a, 0); err != nil {
		t.Fatal(err)
	}
	d := put(t, c, fill('d', 100))
	for _, x := range []struct {
		name string
		d    Digest
		want bool
	}{{"a", a, true}, {"b", b, false}, {"c", cc, true}, {"d", d, true}} {
		if c.Has(x.d) != x.want {
			t.Errorf("blob %s stored: %v, want %v", x.name, c.Has(x.d), x.want)
		}
	}
	// Has is not a use: c goes next.
	c.Has(cc)
	put(t, c, fill('e', 100))
	if c.Has(cc) {
		t.Error("blob c kept after the next Put, want it evicted as least recently used")
	}
	if s := c.Stats(); s.Bytes > 300 {
		t.Errorf("cache holds %d bytes, bound 300", s.Bytes)
	}
}

func TestPinnedBlobsAreNeverEvictedAndPinsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir, 200)
	a, b := put(t, c, fill('a', 100)), put(t, c, fill('b', 100))
	if err := c.Pin("production/web v1.4.2", []Digest{a, b}); err != nil {
		t.Fatal(err)
	}
	x := put(t, c, fill('x', 100))
	if !c.Has(a) || !c.Has(b) {
		t.Fatal("a pinned blob was evicted")
	}
	if !c.Has(x) {
		t.Fatal("the blob just put was evicted")
	}
	if s := c.Stats(); s.Bytes != 300 || s.Protected != 2 {
		t.Fatalf("stats %+v, want 300 bytes above the bound, 2 protected", s)
	}

	// After a restart the pins hold, and a later Put evicts x, not a or b.
	c2 := open(t, dir, 200)
	if got := c2.PinSets(); len(got) != 1 || got[0] != "production/web v1.4.2" {
		t.Fatalf("pin sets after restart %v", got)
	}
	put(t, c2, fill('y', 100))
	if !c2.Has(a) || !c2.Has(b) {
		t.Fatal("a pinned blob was evicted after a restart")
	}
	if c2.Has(x) {
		t.Fatal("unpinned x kept over the bound")
	}

	// Replacing the set unpins what it no longer names: b goes first.
	if err := c2.Pin("production/web v1.4.2", []Digest{a}); err != nil {
		t.Fatal(err)
	}
	put(t, c2, fill('z', 100))
	if c2.Has(b) || !c2.Has(a) {
		t.Fatalf("after unpinning b: a stored %v (want true), b stored %v (want false)", c2.Has(a), c2.Has(b))
	}
	if err := c2.Pin("production/web v1.4.2", nil); err != nil {
		t.Fatal(err)
	}
	if sets := c2.PinSets(); len(sets) != 0 {
		t.Fatalf("pin sets after an empty Pin: %v", sets)
	}
	if _, err := os.Stat(pinPath(dir, "production/web v1.4.2")); !os.IsNotExist(err) {
		t.Fatalf("pin file still there after removing the set: %v", err)
	}
}

func TestPinAppliesToBlobsStoredLater(t *testing.T) {
	c := open(t, t.TempDir(), 100)
	want := FromBytes([]byte(fill('p', 100)))
	if err := c.Pin("staging/api v2", []Digest{want}); err != nil {
		t.Fatal(err)
	}
	put(t, c, fill('p', 100))
	put(t, c, fill('q', 100))
	if !c.Has(want) {
		t.Fatal("a blob pinned before it was stored was evicted")
	}
}

func TestHoldProtectsUntilReleasedAndDropGoesFirst(t *testing.T) {
	c := open(t, t.TempDir(), 200)
	h := c.NewHold()
	a, _, err := c.Put(strings.NewReader(fill('a', 100)), PutOptions{Hold: h})
	if err != nil {
		t.Fatal(err)
	}
	b := put(t, c, fill('b', 100))
	put(t, c, fill('c', 100))
	if !c.Has(a) {
		t.Fatal("a held blob was evicted")
	}
	if c.Has(b) {
		t.Fatal("b kept: want it evicted while a is held")
	}
	if err := h.Add(b); !errors.Is(err, ErrNotFound) {
		t.Fatalf("holding a blob not stored: %v, want ErrNotFound", err)
	}
	// A dropped hold puts its blobs at the back: a goes before c.
	h.Drop()
	h.Drop() // twice is harmless
	put(t, c, fill('d', 100))
	if c.Has(a) {
		t.Fatal("the blob of a dropped hold was kept before older ones")
	}
}

func TestConcurrentPutsOfTheSameContent(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir, 0)
	content := make([]byte, 1<<20)
	rand.Read(content)
	want := FromBytes(content)
	var wg sync.WaitGroup
	errs := make([]error, 16)
	for i := range errs {
		wg.Go(func() {
			d, _, err := c.Put(bytes.NewReader(content), PutOptions{Want: want})
			if err == nil && d != want {
				err = fmt.Errorf("digest %s", d)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("put %d: %v", i, err)
		}
	}
	if s := c.Stats(); s.Blobs != 1 || s.Bytes != int64(len(content)) {
		t.Fatalf("stats %+v, want one blob of %d bytes", s, len(content))
	}
	got, err := c.ReadAll(want, 0)
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("content read back differs (%v)", err)
	}
	if left, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(left) != 0 {
		t.Fatalf("temporary files left: %d", len(left))
	}
}

func TestOpenRemovesCrashLeftoversAndRebuildsIndex(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir, 0)
	a, b := put(t, c, "alpha"), put(t, c, "beta")
	// A crash during a Put leaves a temporary file; a stray file in the
	// blob tree is not a blob.
	os.WriteFile(filepath.Join(dir, "tmp", "put-123"), []byte("half a blo"), 0o600)
	os.WriteFile(filepath.Join(dir, "blobs", "sha256", "stray"), []byte("x"), 0o600)
	c2 := open(t, dir, 0)
	if left, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(left) != 0 {
		t.Fatalf("leftovers not removed: %v", left)
	}
	if !c2.Has(a) || !c2.Has(b) {
		t.Fatal("blobs lost across a restart")
	}
	if s := c2.Stats(); s.Blobs != 2 || s.Bytes != int64(len("alpha")+len("beta")) {
		t.Fatalf("rebuilt stats %+v", s)
	}
}

func TestRecencySurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir, 300)
	a, b, cc := put(t, c, fill('a', 100)), put(t, c, fill('b', 100)), put(t, c, fill('c', 100))
	c.ReadAll(a, 0) // a is now the most recent, b the least
	c2, err := Open(dir, Options{MaxBytes: 300, Now: (&clock{t: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}).now})
	if err != nil {
		t.Fatal(err)
	}
	put(t, c2, fill('d', 100))
	if c2.Has(b) || !c2.Has(a) || !c2.Has(cc) {
		t.Fatalf("after restart and one Put: a %v b %v c %v, want b evicted only", c2.Has(a), c2.Has(b), c2.Has(cc))
	}
}

func TestDamagedBlobIsDetectedAndRemoved(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir, 0)
	d := put(t, c, "the real content")
	if err := os.WriteFile(c.path(d), []byte("the fake content"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadAll(d, 0); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("reading a damaged blob: %v, want ErrCorrupt", err)
	}
	if c.Has(d) {
		t.Fatal("damaged blob still indexed")
	}
	// Stored again, it reads fine.
	put(t, c, "the real content")
	if got, err := c.ReadAll(d, 0); err != nil || string(got) != "the real content" {
		t.Fatalf("after storing again: %q, %v", got, err)
	}
}

func TestBlobReadingStopsShortIsNotChecked(t *testing.T) {
	c := open(t, t.TempDir(), 0)
	d := put(t, c, "0123456789")
	b, err := c.Open(d)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	p := make([]byte, 4)
	if _, err := b.ReadAt(p, 3); err != nil || string(p) != "3456" {
		t.Fatalf("ReadAt = %q, %v", p, err)
	}
	if got, err := io.ReadAll(b); err != nil || string(got) != "0123456789" {
		t.Fatalf("ReadAll after ReadAt = %q, %v", got, err)
	}
}

func TestRefsPointToBlobsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir, 100)
	d := put(t, c, fill('m', 60))
	if err := c.SetRef("manifest/x", d); err != nil {
		t.Fatal(err)
	}
	c2 := open(t, dir, 100)
	if got, ok := c2.Ref("manifest/x"); !ok || got != d {
		t.Fatalf("Ref after restart = %s, %v", got, ok)
	}
	if _, ok := c2.Ref("manifest/y"); ok {
		t.Fatal("a ref never set was found")
	}
	put(t, c2, fill('n', 60)) // evicts the manifest
	if _, ok := c2.Ref("manifest/x"); ok {
		t.Fatal("a ref to an evicted blob still resolves")
	}
}

func TestParseDigest(t *testing.T) {
	good := "sha256:" + strings.Repeat("ab", 32)
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{good, true},
		{strings.ToUpper(good), false},
		{"sha512:" + strings.Repeat("ab", 32), false},
		{"sha256:" + strings.Repeat("ab", 31), false},
		{"sha256:" + strings.Repeat("zz", 32), false},
		{"", false},
	} {
		_, err := ParseDigest(tc.in)
		if (err == nil) != tc.want {
			t.Errorf("ParseDigest(%q) error %v, want ok=%v", tc.in, err, tc.want)
		}
	}
}

func TestSyncAfterNoSyncPuts(t *testing.T) {
	c := open(t, t.TempDir(), 0)
	for i := range 10 {
		if _, _, err := c.Put(strings.NewReader(fmt.Sprint(i)), PutOptions{NoSync: true}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Sync(); err != nil {
		t.Fatal(err)
	}
	if s := c.Stats(); s.Blobs != 10 {
		t.Fatalf("%d blobs, want 10", s.Blobs)
	}
}
