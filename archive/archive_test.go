package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"github.com/gitfleet/gitfleet/internal/testenv"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/blobcache"
	at "github.com/gitfleet/gitfleet/internal/artifacttest"
	"github.com/gitfleet/gitfleet/tree"
	"github.com/klauspost/compress/zstd"
)

func newCache(t *testing.T) *blobcache.Cache {
	t.Helper()
	c, err := blobcache.Open(t.TempDir(), blobcache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func store(t *testing.T, c *blobcache.Cache, data []byte) blobcache.Digest {
	t.Helper()
	d, _, err := c.Put(bytes.NewReader(data), blobcache.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func extract(t *testing.T, c *blobcache.Cache, data []byte, f Format, lim Limits) (*Manifest, error) {
	t.Helper()
	return Extract(context.Background(), c, store(t, c, data), f, Options{Limits: lim})
}

var sample = []at.Entry{
	at.Dir("./"),
	at.Dir("./bin/"),
	{Name: "./bin/run", Body: []byte("#!/bin/sh\necho hi\n"), Mode: 0o755},
	at.File("./index.html", "<h1>hello</h1>\n"),
	at.Symlink("./latest", "index.html"),
	at.File("./static/app.js", "console.log(1)\n"),
}

func TestFormatsGiveTheSameManifest(t *testing.T) {
	c := newCache(t)
	var digests []string
	for _, tc := range []struct {
		name string
		data []byte
		f    Format
	}{
		{"tar", at.Tar(t, sample, at.None), Tar},
		{"tar.gz", at.Tar(t, sample, at.Gzip), TarGz},
		{"tar.zst", at.Tar(t, sample, at.Zstd), TarZst},
		{"zip", at.Zip(t, []at.ZipEntry{
			{Name: "bin/", Mode: fs.ModeDir | 0o755},
			{Name: "bin/run", Body: "#!/bin/sh\necho hi\n", Mode: 0o755},
			{Name: "index.html", Body: "<h1>hello</h1>\n"},
			{Name: "latest", Body: "index.html", Mode: fs.ModeSymlink | 0o777},
			{Name: "static/app.js", Body: "console.log(1)\n"},
		}), Zip},
	} {
		m, err := extract(t, c, tc.data, tc.f, Limits{})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		digests = append(digests, m.Digest())
		if got := m.Get("bin/run"); got == nil || got.Mode != 0o755 || got.Size != 18 {
			t.Fatalf("%s: bin/run = %+v", tc.name, got)
		}
		if got := m.Get("static"); got == nil || got.Kind != Dir || got.Mode != 0o755 {
			t.Fatalf("%s: implied directory static = %+v, want a 0755 dir", tc.name, got)
		}
		tr, err := ToTree(m, c, 0)
		if err != nil {
			t.Fatalf("%s: ToTree: %v", tc.name, err)
		}
		if tr.Digest() != m.Digest() {
			t.Fatalf("%s: tree digest %s, manifest digest %s", tc.name, tr.Digest(), m.Digest())
		}
		if e := tr.Get("index.html"); e == nil || string(e.Data) != "<h1>hello</h1>\n" {
			t.Fatalf("%s: index.html in the tree = %+v", tc.name, e)
		}
	}
	for i := range digests {
		if digests[i] != digests[0] {
			t.Fatalf("digests differ between formats: %v", digests)
		}
	}
}

// The release ID must not depend on where the files came from: an archive
// made by GNU tar from a directory has the digest tree.ReadDir gives it.
func TestManifestDigestEqualsTheDirectorysTree(t *testing.T) {
	testenv.NeedTools(t, "to make an archive from a directory (Debian: tar)", "tar")
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "assets", "img"), 0o750)
	os.WriteFile(filepath.Join(dir, "assets", "img", "a.png"), []byte("png"), 0o600)
	os.WriteFile(filepath.Join(dir, "run.sh"), []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(filepath.Join(dir, "data"), []byte("same"), 0o644)
	os.Link(filepath.Join(dir, "data"), filepath.Join(dir, "data-link"))
	os.Symlink("assets/img", filepath.Join(dir, "img"))
	want, err := tree.ReadDir(dir, tree.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "a.tar.gz")
	if b, err := exec.Command("tar", "-C", dir, "-czf", out, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v: %s", err, b)
	}
	data, _ := os.ReadFile(out)
	c := newCache(t)
	m, err := extract(t, c, data, TarGz, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Digest() != want.Digest() {
		t.Fatalf("manifest digest %s, directory tree digest %s\nmanifest: %+v", m.Digest(), want.Digest(), m.Entries)
	}
	if e := m.Get("data-link"); e == nil || e.Kind != File || e.SHA256 != blobcache.FromBytes([]byte("same")) {
		t.Fatalf("hard link data-link = %+v, want a file with data's content", e)
	}
}

func TestHostileArchivesAreRefusedWithTheEntryNamed(t *testing.T) {
	small := Limits{MaxEntries: 50, MaxBytes: 8 << 20, MaxFileBytes: 4 << 20}
	many := []at.Entry{}
	for i := 0; i < 60; i++ {
		many = append(many, at.File("f"+strings.Repeat("x", i), ""))
	}
	for _, tc := range []struct {
		name    string
		entries []at.Entry
		want    string
		kind    error
	}{
		{"dot-dot", []at.Entry{at.File("../evil", "x")}, "../evil: path with `..`", ErrUnsafe},
		{"dot-dot inside", []at.Entry{at.File("a/../../evil", "x")}, "a/../../evil: path with `..`", ErrUnsafe},
		{"absolute path", []at.Entry{at.File("/etc/cron.d/evil", "x")}, "/etc/cron.d/evil: absolute path", ErrUnsafe},
		{"link to root", []at.Entry{at.Symlink("root", "/")}, "root: symbolic link to the absolute path /", ErrUnsafe},
		{"link up", []at.Entry{at.Dir("d/"), at.Symlink("d/up", "../..")}, "d/up: symbolic link to ../.. leads out", ErrUnsafe},
		{"link out through a link", []at.Entry{at.Dir("sub/"), at.Symlink("sub/here", ".."), at.Symlink("esc", "sub/here/..")}, "esc: symlink to sub/here/..: points outside the artifact", ErrUnsafe},
		{"file through a link", []at.Entry{at.Dir("dir/"), at.Symlink("lnk", "dir"), at.File("lnk/x", "x")}, "lnk/x: parent lnk is a symlink", ErrUnsafe},
		{"char device", []at.Entry{{Name: "dev/null", Type: tar.TypeChar, Mode: 0o666}}, "dev/null: device node", ErrUnsafe},
		{"block device", []at.Entry{{Name: "sda", Type: tar.TypeBlock, Mode: 0o660}}, "sda: device node", ErrUnsafe},
		{"fifo", []at.Entry{{Name: "pipe", Type: tar.TypeFifo, Mode: 0o644}}, "pipe: named pipe", ErrUnsafe},
		{"duplicate", []at.Entry{at.File("a.txt", "1"), at.File("./a.txt", "2")}, "./a.txt: duplicate entry", ErrUnsafe},
		{"control character", []at.Entry{at.File("bad\nname", "x")}, `bad\nname: name holds the control character U+000A`, ErrUnsafe},
		{"escape sequence", []at.Entry{at.File("x\x1b[2Jy", "x")}, `x\x1b[2Jy: name holds the control character U+001B`, ErrUnsafe},
		{"setuid", []at.Entry{{Name: "su", Body: []byte("x"), Mode: 0o4755}}, "su: setuid or setgid file", ErrUnsafe},
		{"hard link out", []at.Entry{at.Hardlink("h", "../etc/passwd")}, "h: hard link to ../etc/passwd", ErrUnsafe},
		{"hard link to nothing", []at.Entry{at.Hardlink("h", "missing")}, "h: hard link to missing, which is not an earlier regular file", ErrUnsafe},
		{"hard link to a dir", []at.Entry{at.Dir("d/"), at.Hardlink("h", "d")}, "h: hard link to d, which is not", ErrUnsafe},
		{"tar bomb: one big file", []at.Entry{at.File("ok", "x"), {Name: "bomb", Size: 64 << 20, Mode: 0o644}}, "bomb: file of 67108864 bytes, more than the limit of 4194304", ErrLimit},
		{"tar bomb: many files", []at.Entry{{Name: "a", Size: 3 << 20}, {Name: "b", Size: 3 << 20}, {Name: "c", Size: 3 << 20}}, "c: the files reach more than 8388608 bytes", ErrLimit},
		{"tar bomb: many entries", many, ": more than 50 entries", ErrLimit},
		{"long name", []at.Entry{at.File(strings.Repeat("n", 300), "x")}, "longer than 255 bytes", ErrLimit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCache(t)
			_, err := extract(t, c, at.Tar(t, tc.entries, at.Gzip), TarGz, small)
			if err == nil {
				t.Fatalf("archive accepted, want %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want it to contain %q", err, tc.want)
			}
			if !errors.Is(err, tc.kind) {
				t.Fatalf("error %q does not wrap %v", err, tc.kind)
			}
		})
	}
}

func TestHostileZipsAreRefused(t *testing.T) {
	for _, tc := range []struct {
		name    string
		entries []at.ZipEntry
		want    string
	}{
		{"duplicate names", []at.ZipEntry{{Name: "index.html", Body: "one"}, {Name: "index.html", Body: "two"}}, "index.html: duplicate entry"},
		{"duplicate after cleaning", []at.ZipEntry{{Name: "a/b", Body: "one"}, {Name: "a//b", Body: "two"}}, "a//b: duplicate entry"},
		{"dot-dot", []at.ZipEntry{{Name: "../../evil", Body: "x"}}, "../../evil: path with `..`"},
		{"absolute", []at.ZipEntry{{Name: "/evil", Body: "x"}}, "/evil: absolute path"},
		{"backslash", []at.ZipEntry{{Name: `..\evil`, Body: "x"}}, `..\\evil: name with a backslash`},
		{"link to root", []at.ZipEntry{{Name: "root", Body: "/", Mode: fs.ModeSymlink | 0o777}}, "root: symbolic link to the absolute path /"},
		{"device", []at.ZipEntry{{Name: "dev", Mode: fs.ModeDevice | 0o600}}, "dev: device node"},
		{"fifo", []at.ZipEntry{{Name: "p", Mode: fs.ModeNamedPipe | 0o600}}, "p: named pipe"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCache(t)
			_, err := extract(t, c, at.Zip(t, tc.entries), Zip, Limits{})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrUnsafe) {
				t.Fatalf("error %v, want ErrUnsafe containing %q", err, tc.want)
			}
		})
	}
}

func TestZipDeclaringTooManyEntriesIsRefusedBeforeReading(t *testing.T) {
	var entries []at.ZipEntry
	for i := 0; i < 30; i++ {
		entries = append(entries, at.ZipEntry{Name: strings.Repeat("z", i+1), Body: "x"})
	}
	c := newCache(t)
	_, err := extract(t, c, at.Zip(t, entries), Zip, Limits{MaxEntries: 20})
	if err == nil || !strings.Contains(err.Error(), "(zip directory): declares 30 entries, more than the limit of 20") || !errors.Is(err, ErrLimit) {
		t.Fatalf("error %v", err)
	}
}

func TestBrokenArchivesAreErrorsNotPanics(t *testing.T) {
	good := at.Tar(t, sample, at.Gzip)
	for _, tc := range []struct {
		name string
		data []byte
		f    Format
	}{
		{"truncated gzip", good[:len(good)/2], TarGz},
		{"garbage as zip", []byte("PK\x03\x04 not really"), Zip},
		{"random bytes as tar", bytes.Repeat([]byte{0x55}, 2048), Tar},
		{"zstd header only", []byte{0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0}, TarZst},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCache(t)
			if _, err := extract(t, c, tc.data, tc.f, Limits{}); err == nil {
				t.Fatal("a broken archive was accepted")
			}
		})
	}
}

func TestLayersOverlayWithWhiteouts(t *testing.T) {
	c := newCache(t)
	l1 := store(t, c, at.Tar(t, []at.Entry{
		at.File("app/a", "a1"), at.File("app/b", "b1"), at.File("old/z", "z"), at.File("keep/k", "k"),
		at.File("cfg/one", "1"), at.File("cfg/two", "2"),
	}, at.Gzip))
	l2 := store(t, c, at.Tar(t, []at.Entry{
		at.File("app/a", "a2"),          // replaces
		at.File("app/.wh.b", ""),        // removes app/b
		at.File(".wh.old", ""),          // removes old/ and below
		at.File("cfg/.wh..wh..opq", ""), // empties cfg/ of lower layers
		at.File("cfg/three", "3"),       // but not of this one
		at.File("keep", "now a file"),   // replaces the directory keep/ and hides keep/k
	}, at.None))
	m, err := ExtractLayers(context.Background(), c, []Layer{{l1, Tar}, {l2, Tar}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, e := range m.Entries {
		paths = append(paths, e.Path)
	}
	if got, want := strings.Join(paths, " "), "app app/a cfg cfg/three keep"; got != want {
		t.Fatalf("paths %q, want %q", got, want)
	}
	if e := m.Get("app/a"); e.SHA256 != blobcache.FromBytes([]byte("a2")) {
		t.Fatalf("app/a not replaced by the upper layer")
	}
	// The same path twice within one layer is still refused.
	l3 := store(t, c, at.Tar(t, []at.Entry{at.File("x", "1"), at.File("x", "2")}, at.None))
	if _, err := ExtractLayers(context.Background(), c, []Layer{{l1, Tar}, {l3, Tar}}, Options{}); err == nil || !strings.Contains(err.Error(), "layer 2") || !strings.Contains(err.Error(), "x: duplicate entry") {
		t.Fatalf("duplicate within a layer: %v", err)
	}
}

func TestPlainArchivesKeepWhiteoutNamesAsFiles(t *testing.T) {
	c := newCache(t)
	m, err := extract(t, c, at.Tar(t, []at.Entry{at.File(".wh.x", "not special here")}, at.None), Tar, Limits{})
	if err != nil || m.Get(".wh.x") == nil {
		t.Fatalf("a .wh. file of a plain archive: %v, %+v", err, m)
	}
}

func TestExtractionHoldsItsBlobsInASmallCache(t *testing.T) {
	c, err := blobcache.Open(t.TempDir(), blobcache.Options{MaxBytes: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var entries []at.Entry
	for i := 0; i < 20; i++ {
		entries = append(entries, at.File(string(rune('a'+i)), strings.Repeat(string(rune('a'+i)), 200)))
	}
	h := c.NewHold()
	defer h.Release()
	src := store(t, c, at.Tar(t, entries, at.Gzip))
	m, err := Extract(context.Background(), c, src, TarGz, Options{Hold: h})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range m.Blobs() {
		if !c.Has(d) {
			t.Fatalf("blob %s of the manifest evicted during extraction", d.Short())
		}
	}
	if _, err := ToTree(m, c, 0); err != nil {
		t.Fatal(err)
	}
}

func TestManifestSubAndJSON(t *testing.T) {
	c := newCache(t)
	m, err := extract(t, c, at.Tar(t, []at.Entry{at.File("dist/index.html", "x"), at.File("dist/js/a.js", "y"), at.File("README", "r"), at.Symlink("lnk", "dist")}, at.None), Tar, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := m.Sub("dist")
	if err != nil {
		t.Fatal(err)
	}
	if got := len(sub.Entries); got != 3 || sub.Get("index.html") == nil || sub.Get("js/a.js") == nil {
		t.Fatalf("sub entries %+v", sub.Entries)
	}
	if _, err := m.Sub("lnk"); err == nil || !strings.Contains(err.Error(), "lnk is a symlink, not a directory") {
		t.Fatalf("Sub through a link: %v", err)
	}
	if _, err := m.Sub("nope"); err == nil {
		t.Fatal("Sub of a missing directory accepted")
	}
	data, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Unmarshal(data)
	if err != nil || back.Digest() != m.Digest() {
		t.Fatalf("JSON round trip: %v, digest %s want %s", err, back.Digest(), m.Digest())
	}
	if _, err := Unmarshal([]byte(`{"entries":[{"path":"../x","kind":"file","sha256":"sha256:00"}]}`)); err == nil {
		t.Fatal("a manifest with ../x accepted")
	}
}

func TestFormatOf(t *testing.T) {
	for name, want := range map[string]Format{
		"web.tar.gz": TarGz, "web.TGZ": TarGz, "web.tar.zst": TarZst, "web.tzst": TarZst, "web.tar": Tar, "web.zip": Zip,
	} {
		if got, err := FormatOf(name); err != nil || got != want {
			t.Errorf("FormatOf(%s) = %s, %v; want %s", name, got, err, want)
		}
	}
	if _, err := FormatOf("web.rar"); err == nil {
		t.Error("FormatOf(web.rar) accepted")
	}
}

func TestZstdWindowAboveTheBoundIsRefused(t *testing.T) {
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf, zstd.WithWindowSize(128<<20), zstd.WithEncoderConcurrency(1), zstd.WithSingleSegment(false))
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(at.Tar(t, []at.Entry{at.File("a", strings.Repeat("x", 1<<20))}, at.None))
	zw.Close()
	c := newCache(t)
	if _, err := extract(t, c, buf.Bytes(), TarZst, Limits{}); err == nil || !strings.Contains(err.Error(), "zstd: the stream needs a window of more than 64 MiB") || !errors.Is(err, ErrLimit) {
		t.Fatalf("a 128 MiB zstd window: %v, want it refused", err)
	}
}
