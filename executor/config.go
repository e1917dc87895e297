package executor

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/gitfleet/gitfleet/spec"
)

// FileState is a managed file as found on a server.
type FileState struct {
	Exists bool   `json:"exists"`
	Digest string `json:"digest,omitempty"` // hex sha256
	Mode   uint32 `json:"mode,omitempty"`
}

// ConfigTransport is what the environment lane (and the healing of a
// release's files) needs of a transport: read the digests of files, write
// one atomically, remove some. A write or removal of p stays inside root
// (docs/security.md): root itself must not be a symbolic link, and a link on
// the way below it is followed only while it resolves inside; otherwise it
// is refused with a *RootError and nothing is written.
type ConfigTransport interface {
	ReadFiles(ctx context.Context, srv *spec.Server, paths []string) (map[string]FileState, error)
	// WriteFile replaces p, below root, atomically; missing directories
	// between root and p are made, and so is root.
	WriteFile(ctx context.Context, srv *spec.Server, root, p string, data []byte, mode uint32) error
	// RemoveFiles removes the files paths, below root; missing ones are
	// no error.
	RemoveFiles(ctx context.Context, srv *spec.Server, root string, paths []string) error
}

// ReadFiles reads the managed files of a local server.
func (l *Local) ReadFiles(ctx context.Context, srv *spec.Server, paths []string) (map[string]FileState, error) {
	out := make(map[string]FileState, len(paths))
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		full := l.Path(srv, p)
		fi, err := os.Lstat(full)
		if errors.Is(err, fs.ErrNotExist) {
			out[p] = FileState{}
			continue
		}
		if err != nil {
			return nil, err
		}
		if !fi.Mode().IsRegular() {
			out[p] = FileState{Exists: true, Mode: uint32(fi.Mode().Perm())}
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
		out[p] = FileState{Exists: true, Digest: hex.EncodeToString(h.Sum(nil)), Mode: uint32(fi.Mode().Perm())}
	}
	return out, nil
}

// WriteFile replaces a file of a local server atomically, inside root.
func (l *Local) WriteFile(ctx context.Context, srv *spec.Server, root, p string, data []byte, mode uint32) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	rel, err := relTo(root, p)
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
		if rels[i], err = relTo(root, p); err != nil {
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

const readFilesScript = `for p in "$@"; do
  if [ -f "$p" ] && [ ! -L "$p" ]; then
    printf '%s %s %s\n' "$(stat -c %a "$p")" "$(sha256sum < "$p" | cut -d' ' -f1)" "$p"
  elif [ -e "$p" ] || [ -L "$p" ]; then printf 'other - %s\n' "$p"
  else printf 'none - %s\n' "$p"; fi
done`

// ReadFiles reads the managed files of a server in one round trip.
func (s *SSH) ReadFiles(ctx context.Context, srv *spec.Server, paths []string) (map[string]FileState, error) {
	out, err := s.script(ctx, srv, readFilesScript, nil, paths...)
	if err != nil {
		return nil, fmt.Errorf("read managed files on %s: %w", srv.Name, err)
	}
	res := make(map[string]FileState, len(paths))
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), " ", 3)
		if len(f) != 3 {
			continue
		}
		switch f[0] {
		case "none":
			res[f[2]] = FileState{}
		case "other":
			res[f[2]] = FileState{Exists: true}
		default:
			m, _ := strconv.ParseUint(f[0], 8, 32)
			res[f[2]] = FileState{Exists: true, Mode: uint32(m), Digest: f[1]}
		}
	}
	return res, sc.Err()
}

// writeFileScript writes $2 (relative to the root $1) through a temporary
// file beside it, renamed over it; mv -T, so that a link to a directory in
// its place is replaced, not written into.
const writeFileScript = confineSh + `set -e
rel=$2 mode=$3 rnd=$4
gf_root "$1" make
case $rel in */*) gf_cd "${rel%/*}" make;; esac
b=${rel##*/}
tmp=".tmp-gitfleet-$b-$rnd"
trap 'rm -f "$tmp"' EXIT
set -C
cat > "$tmp"
chmod "$mode" "$tmp"
mv -Tf "$tmp" "$b"`

// WriteFile replaces a file of a server atomically, inside root: written
// beside it under a temporary name, then renamed over it. The walk to it
// and the write are one script.
func (s *SSH) WriteFile(ctx context.Context, srv *spec.Server, root, p string, data []byte, mode uint32) error {
	rel, err := relTo(root, p)
	if err != nil {
		return err
	}
	_, err = s.script(ctx, srv, writeFileScript, bytes.NewReader(data), root, rel, fmt.Sprintf("%o", mode), randomSuffix())
	if err != nil {
		if rerr := refusal(err, p, root); rerr != err {
			return rerr
		}
		return fmt.Errorf("write %s: %w", p, err)
	}
	return nil
}

// removeFilesScript removes files below the root $1 once every one of
// them was found inside it.
const removeFilesScript = confineSh + `set -e
gf_root "$1" || exit 0
shift
for rel; do
  gf_home
  case $rel in */*) gf_cd "${rel%/*}" || true;; esac
done
for rel; do
  gf_home
  case $rel in */*) gf_cd "${rel%/*}" || continue;; esac
  rm -f -- "${rel##*/}"
done`

// RemoveFiles removes files of a server, inside root, in one round trip.
func (s *SSH) RemoveFiles(ctx context.Context, srv *spec.Server, root string, paths []string) error {
	args := []string{root}
	for _, p := range paths {
		rel, err := relTo(root, p)
		if err != nil {
			return err
		}
		args = append(args, rel)
	}
	_, err := s.script(ctx, srv, removeFilesScript, nil, args...)
	if err != nil {
		if rerr := refusal(err, "", root); rerr != err {
			return rerr
		}
		return fmt.Errorf("remove files below %s: %w", root, err)
	}
	return nil
}

// ObserveConfig reads the managed files of the environment on the server.
func (x *Executor) ObserveConfig(ctx context.Context, srv *spec.Server, paths []string) (map[string]FileState, error) {
	ct, ok := x.T.(ConfigTransport)
	if !ok {
		return nil, errors.New("the transport cannot manage files")
	}
	return ct.ReadFiles(ctx, srv, paths)
}

// ConfigRequest is the environment lane's step on one server: the files
// to write (only those that differ) and the command to run afterwards.
type ConfigRequest struct {
	Environment string
	Server      *spec.Server
	Files       []spec.RenderedFile
	OnChange    string
	Revision    string
	Log         *slog.Logger
}

// ApplyConfig writes the files, each atomically and inside its root of
// ConfigRoots, then runs onChange in / on the server (its output logged).
// A write refused because it would leave its root fails the step (a
// *RootError) before onChange runs. A file written is never written
// back: a failing onChange is reported and tried again at the next pass.
func (x *Executor) ApplyConfig(ctx context.Context, r ConfigRequest) error {
	ct, ok := x.T.(ConfigTransport)
	if !ok {
		return errors.New("the transport cannot manage files")
	}
	for _, f := range r.Files {
		root, err := configRoot(x.ConfigRoots, f.Path)
		if err == nil {
			err = ct.WriteFile(ctx, r.Server, root, f.Path, f.Data, f.Mode)
		}
		if err != nil {
			return fmt.Errorf("environment %s on %s: %w", r.Environment, r.Server.Name, err)
		}
		r.Log.Info("managed file written", "path", f.Path, "digest", f.Digest[:12])
	}
	if r.OnChange == "" || len(r.Files) == 0 {
		return nil
	}
	env := []string{"GITFLEET_ENVIRONMENT=" + r.Environment, "GITFLEET_SERVER=" + r.Server.Name, "GITFLEET_REVISION=" + r.Revision}
	var changed []string
	for _, f := range r.Files {
		changed = append(changed, f.Path)
	}
	env = append(env, "GITFLEET_CHANGED_FILES="+strings.Join(changed, " "))
	out, err := x.T.Run(ctx, r.Server, path.Clean("/"), env, r.OnChange)
	if err != nil {
		return fmt.Errorf("environment %s on %s: onChange: %w", r.Environment, r.Server.Name, withOutput(err, out))
	}
	if len(out) > 0 {
		r.Log.Info("onChange output", "output", tail(out))
	}
	return nil
}
