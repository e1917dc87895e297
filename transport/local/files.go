package local

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"github.com/gitfleet/gitfleet/fleet"
	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/transport"
)

// ReadFiles reads the managed files of a local server, and the records
// that are regular files (at most fleet.MaxEnvRecordBytes each).
func (l *Local) ReadFiles(ctx context.Context, srv *spec.Server, paths, records []string) (map[string]fleet.FileState, map[string][]byte, error) {
	out, err := l.digests(ctx, srv, paths)
	if err != nil {
		return nil, nil, err
	}
	recs := map[string][]byte{}
	for _, p := range records {
		full := l.Path(srv, p)
		fi, err := os.Lstat(full)
		if errors.Is(err, fs.ErrNotExist) || (err == nil && !fi.Mode().IsRegular()) {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		if fi.Size() > fleet.MaxEnvRecordBytes {
			return nil, nil, fmt.Errorf("%s: %d bytes, more than a record may hold (%d)", p, fi.Size(), fleet.MaxEnvRecordBytes)
		}
		b, err := os.ReadFile(full)
		if err != nil {
			return nil, nil, err
		}
		recs[p] = b
	}
	return out, recs, nil
}

// digests reads the digest and mode of the managed files of a local
// server.
func (l *Local) digests(ctx context.Context, srv *spec.Server, paths []string) (map[string]fleet.FileState, error) {
	out := make(map[string]fleet.FileState, len(paths))
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		full := l.Path(srv, p)
		fi, err := os.Lstat(full)
		if errors.Is(err, fs.ErrNotExist) {
			out[p] = fleet.FileState{}
			continue
		}
		if err != nil {
			return nil, err
		}
		if !fi.Mode().IsRegular() {
			out[p] = fleet.FileState{Exists: true, Mode: uint32(fi.Mode().Perm())}
			continue
		}
		f, err := os.Open(full)
		if err != nil {
			return nil, err
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return nil, err
		}
		out[p] = fleet.FileState{Exists: true, Digest: hex.EncodeToString(h.Sum(nil)), Mode: uint32(fi.Mode().Perm())}
	}
	return out, nil
}

// WriteFile replaces a file of a local server atomically, inside root.
func (l *Local) WriteFile(ctx context.Context, srv *spec.Server, root, p string, data []byte, mode uint32) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	rel, err := transport.RelTo(root, p)
	if err != nil {
		return err
	}
	r, err := l.openRoot(srv, root, p, true)
	if err != nil {
		return err
	}
	defer r.Close()
	if dir := path.Dir(rel); dir != "." {
		if err := r.MkdirAll(dir, 0o755); err != nil {
			return r.check(err, rel)
		}
	}
	return r.writeAtomic(rel, data, fs.FileMode(mode))
}

// RemoveFiles removes files of a local server, inside root. Every path is
// checked before the first is removed.
func (l *Local) RemoveFiles(ctx context.Context, srv *spec.Server, root string, paths []string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r, err := l.openRoot(srv, root, root, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer r.Close()
	rels := make([]string, len(paths))
	for i, p := range paths {
		if rels[i], err = transport.RelTo(root, p); err != nil {
			return err
		}
		if _, err := r.Lstat(rels[i]); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return r.check(err, rels[i])
		}
	}
	for _, rel := range rels {
		if err := r.Remove(rel); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return r.check(err, rel)
		}
	}
	return nil
}

// Checksums hashes every regular file under dir on a local server.
func (l *Local) Checksums(ctx context.Context, srv *spec.Server, dir string) (map[string]fleet.FileSum, error) {
	root := l.Path(srv, dir)
	out := map[string]fleet.FileSum{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out[filepath.ToSlash(rel)] = fleet.FileSum{Sum: hex.EncodeToString(h.Sum(nil)), Mode: uint32(fi.Mode().Perm())}
		return nil
	})
	return out, err
}
