// Package artifacttest builds archives (well-formed and hostile), signs
// checksum files with the real gpg and ssh-keygen, and serves artifacts
// over HTTPS with a test certificate, for the tests of the archive and
// artifact packages.
package artifacttest

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// Entry is one entry of a test archive. Type is a tar type flag (default
// tar.TypeReg); Size, when not 0, is the size declared instead of
// len(Body); Body, when nil and Size > 0, is that many zero bytes, made as
// a stream (a bomb costs no memory to build).
type Entry struct {
	Name string
	Type byte
	Mode int64
	Body []byte
	Size int64
	Link string // symlink or hard link target
}

// File, Dir, Symlink and Hardlink make entries.
func File(name, body string) Entry { return Entry{Name: name, Body: []byte(body), Mode: 0o644} }
func Dir(name string) Entry        { return Entry{Name: name, Type: tar.TypeDir, Mode: 0o755} }
func Symlink(name, to string) Entry {
	return Entry{Name: name, Type: tar.TypeSymlink, Link: to, Mode: 0o777}
}
func Hardlink(name, to string) Entry {
	return Entry{Name: name, Type: tar.TypeLink, Link: to, Mode: 0o644}
}

// Compression of a tar.
const (
	None = ""
	Gzip = "gz"
	Zstd = "zst"
)

// WriteTar writes the entries as a tar, compressed as asked, to w.
// Entries without a Body get Size zero bytes.
func WriteTar(w io.Writer, entries []Entry, compression string) error {
	return WriteTarFrom(w, entries, compression, zeros{})
}

// WriteTarFrom is WriteTar with the content of entries without a Body
// read from fill (a random source makes an incompressible archive).
func WriteTarFrom(w io.Writer, entries []Entry, compression string, fill io.Reader) error {
	var out io.WriteCloser
	switch compression {
	case Gzip:
		out, _ = gzip.NewWriterLevel(w, gzip.BestSpeed)
	case Zstd:
		zw, err := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
		if err != nil {
			return err
		}
		out = zw
	default:
		out = nopCloser{w}
	}
	tw := tar.NewWriter(out)
	for _, e := range entries {
		typ := e.Type
		if typ == 0 {
			typ = tar.TypeReg
		}
		size := e.Size
		if size == 0 {
			size = int64(len(e.Body))
		}
		h := &tar.Header{Name: e.Name, Typeflag: typ, Mode: e.Mode, Linkname: e.Link, Format: tar.FormatPAX}
		if typ == tar.TypeReg {
			h.Size = size
		}
		if typ == tar.TypeChar || typ == tar.TypeBlock {
			h.Devmajor, h.Devminor = 1, 3
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if typ != tar.TypeReg {
			continue
		}
		var body io.Reader = bytes.NewReader(e.Body)
		if e.Body == nil {
			body = io.LimitReader(fill, size)
		}
		if _, err := io.Copy(tw, body); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return out.Close()
}

// Tar returns the entries as a tar, compressed as asked.
func Tar(t testing.TB, entries []Entry, compression string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteTar(&buf, entries, compression); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// ZipEntry is one entry of a test zip.
type ZipEntry struct {
	Name string
	Body string
	Mode fs.FileMode // Go mode bits: fs.ModeDir, fs.ModeSymlink (Body is the target), fs.ModeDevice...
}

// Zip returns the entries as a zip made on Unix (modes kept). Duplicate
// names are written as given.
func Zip(t testing.TB, entries []ZipEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.Name, Method: zip.Deflate}
		mode := e.Mode
		if mode == 0 {
			mode = 0o644
		}
		h.SetMode(mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, e.Body); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
