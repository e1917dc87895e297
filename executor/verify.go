package executor

import (
	"bytes"
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
	"sort"
	"strconv"

	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/tree"
)

// FileSum is a regular file of a release on a server.
type FileSum struct {
	Sum  string // hex sha256
	Mode uint32
}

// ChecksumTransport reads the checksums of the regular files under a
// directory of a server.
type ChecksumTransport interface {
	Checksums(ctx context.Context, srv *spec.Server, dir string) (map[string]FileSum, error)
}

// Checksums hashes every regular file under dir on a local server.
func (l *Local) Checksums(ctx context.Context, srv *spec.Server, dir string) (map[string]FileSum, error) {
	root := l.Path(srv, dir)
	out := map[string]FileSum{}
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
		out[filepath.ToSlash(rel)] = FileSum{Sum: hex.EncodeToString(h.Sum(nil)), Mode: uint32(fi.Mode().Perm())}
		return nil
	})
	return out, err
}

// checksumsScript lists every regular file under $1 twice, NUL-terminated
// so that any legal name is read back exactly (a newline in a name cannot
// split a record, no name is escaped): "m MODE PATH" records from find,
// then "SUM  ./PATH" records from sha256sum -z.
const checksumsScript = `cd "$1" || exit 3
find . -type f -printf 'm %m %P\0'
find . -type f -print0 | xargs -0 -r sha256sum -z`

// Checksums hashes every regular file under dir on the server, in one
// round trip.
func (s *SSH) Checksums(ctx context.Context, srv *spec.Server, dir string) (map[string]FileSum, error) {
	out, err := s.script(ctx, srv, checksumsScript, nil, dir)
	if err != nil {
		return nil, fmt.Errorf("checksums of %s on %s: %w", dir, srv.Name, err)
	}
	return parseChecksums(out)
}

// parseChecksums reads the output of checksumsScript.
func parseChecksums(out []byte) (map[string]FileSum, error) {
	res := map[string]FileSum{}
	for len(out) > 0 {
		rec, rest, ok := bytes.Cut(out, []byte{0})
		if !ok {
			return nil, fmt.Errorf("checksums: unterminated record %q", tail(rec))
		}
		out = rest
		if m, ok := bytes.CutPrefix(rec, []byte("m ")); ok {
			mode, p, _ := bytes.Cut(m, []byte(" "))
			n, err := strconv.ParseUint(string(mode), 8, 32)
			if err != nil {
				return nil, fmt.Errorf("checksums: bad mode in %q", tail(rec))
			}
			fsum := res[string(p)]
			fsum.Mode = uint32(n)
			res[string(p)] = fsum
			continue
		}
		// sha256sum -z: 64 hex digits, a space, a mode character, the name.
		if len(rec) < 67 || rec[64] != ' ' || !bytes.HasPrefix(rec[66:], []byte("./")) {
			return nil, fmt.Errorf("checksums: unexpected record %q", tail(rec))
		}
		p := string(rec[68:])
		fsum := res[p]
		fsum.Sum = string(rec[:64])
		res[p] = fsum
	}
	return res, nil
}

// Verify compares the files of a release on the server with the release
// itself, and returns the paths that differ: changed content or mode,
// missing, or not part of the release. Symbolic links and directories
// are not compared.
func (x *Executor) Verify(ctx context.Context, srv *spec.Server, app *spec.App, rel Release) ([]string, error) {
	ct, ok := x.T.(ChecksumTransport)
	if !ok {
		return nil, errors.New("the transport cannot check content")
	}
	have, err := ct.Checksums(ctx, srv, path.Join(app.DeployTo, "releases", rel.ID))
	if err != nil {
		return nil, err
	}
	var differ []string
	for _, e := range rel.Tree.Entries() {
		if e.Kind != tree.File {
			continue
		}
		h, ok := have[e.Path]
		if !ok || h.Sum != hex.EncodeToString(e.Sum[:]) || h.Mode != uint32(e.Perm) {
			differ = append(differ, e.Path)
		}
		delete(have, e.Path)
	}
	for p := range have {
		if e := rel.Tree.Get(p); e == nil || e.Kind != tree.File {
			differ = append(differ, p)
		}
	}
	sort.Strings(differ)
	return differ, nil
}

// Heal puts the files of a drifted release back as the release has them
// (each written atomically; files not in the release removed), then runs
// the app's activate command and health check again. Every write and
// removal stays inside deployTo (docs/security.md).
func (x *Executor) Heal(ctx context.Context, r Request, paths []string) error {
	ct, ok := x.T.(ConfigTransport)
	if !ok {
		return errors.New("the transport cannot write files")
	}
	root := r.App.DeployTo
	dir := path.Join(root, "releases", r.Release.ID)
	var remove []string
	for _, p := range paths {
		e := r.Release.Tree.Get(p)
		if e == nil || e.Kind != tree.File {
			remove = append(remove, path.Join(dir, p))
			continue
		}
		if err := ct.WriteFile(ctx, r.Server, root, path.Join(dir, p), e.Data, uint32(e.Perm)); err != nil {
			return fmt.Errorf("heal %s on %s: %w", r.App.Name, r.Server.Name, err)
		}
	}
	if len(remove) > 0 {
		if err := ct.RemoveFiles(ctx, r.Server, root, remove); err != nil {
			return fmt.Errorf("heal %s on %s: remove files not in the release: %w", r.App.Name, r.Server.Name, err)
		}
	}
	r.Log.Warn("content drift healed", "release", r.Release.ID, "files", len(paths))
	if se := x.bringUp(ctx, r, r.Release, ""); se != nil {
		return fmt.Errorf("heal %s on %s: %s: %w", r.App.Name, r.Server.Name, se.step, se.err)
	}
	return nil
}
