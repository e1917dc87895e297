package packaging

import (
	"archive/tar"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"time"
)

// archiveFile is one file of a release archive: Name inside the archive's
// top directory, read from Source.
type archiveFile struct {
	Name   string
	Source string
	Mode   int64
}

// writeArchive writes a tar.gz at out whose entries all lie under top/:
// directories first where needed, every entry owned by root with mtime,
// sorted by name, so that the same inputs give the same bytes.
func writeArchive(out, top string, files []archiveFile, mtime time.Time) (err error) {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	zw, err := gzip.NewWriterLevel(f, gzip.BestCompression)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(zw)
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	dirs := map[string]bool{}
	header := func(name string, mode int64) *tar.Header {
		return &tar.Header{Name: name, Mode: mode, ModTime: mtime, Uname: "root", Gname: "root", Format: tar.FormatPAX}
	}
	addDir := func(dir string) error {
		var missing []string
		for d := dir; d != "." && d != "/" && !dirs[d]; d = path.Dir(d) {
			missing = append(missing, d)
		}
		for i := len(missing) - 1; i >= 0; i-- {
			h := header(missing[i]+"/", 0o755)
			h.Typeflag = tar.TypeDir
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
			dirs[missing[i]] = true
		}
		return nil
	}
	for _, a := range files {
		name := path.Join(top, a.Name)
		if err := addDir(path.Dir(name)); err != nil {
			return err
		}
		if err := addArchiveFile(tw, header(name, a.Mode), a.Source); err != nil {
			return fmt.Errorf("archive %s: %w", a.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

func addArchiveFile(tw *tar.Writer, h *tar.Header, source string) error {
	src, err := os.Open(source)
	if err != nil {
		return err
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return err
	}
	h.Typeflag = tar.TypeReg
	h.Size = fi.Size()
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	_, err = io.Copy(tw, src)
	return err
}
