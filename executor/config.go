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
	"path/filepath"
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

// ConfigTransport is what the environment lane needs of a transport: read
// the digests of managed files, and write one atomically.
type ConfigTransport interface {
	ReadFiles(ctx context.Context, srv *spec.Server, paths []string) (map[string]FileState, error)
	WriteFile(ctx context.Context, srv *spec.Server, p string, data []byte, mode uint32) error
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

// WriteFile replaces a managed file of a local server atomically.
func (l *Local) WriteFile(ctx context.Context, srv *spec.Server, p string, data []byte, mode uint32) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	full := l.Path(srv, p)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		return err
	}
	if err := writeFileAtomic(full, data, fs.FileMode(mode)); err != nil {
		return err
	}
	// The umask may have taken bits away.
	return os.Chmod(full, fs.FileMode(mode))
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

const writeFileScript = `set -e
p=$1 mode=$2 rnd=$3
d=$(dirname "$p")
mkdir -p "$d"
tmp="$d/.tmp-gitfleet-$(basename "$p")-$rnd"
trap 'rm -f "$tmp"' EXIT
cat > "$tmp"
chmod "$mode" "$tmp"
mv -f "$tmp" "$p"`

// WriteFile replaces a managed file of a server atomically: written beside
// it under a temporary name, then renamed over it.
func (s *SSH) WriteFile(ctx context.Context, srv *spec.Server, p string, data []byte, mode uint32) error {
	if _, err := s.script(ctx, srv, writeFileScript, bytes.NewReader(data), p, fmt.Sprintf("%o", mode), randomSuffix()); err != nil {
		return fmt.Errorf("write %s on %s: %w", p, srv.Name, err)
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

// ApplyConfig writes the files, each atomically, then runs onChange in /
// on the server (its output logged). A file written is never written
// back: a failing onChange is reported and tried again at the next pass.
func (x *Executor) ApplyConfig(ctx context.Context, r ConfigRequest) error {
	ct, ok := x.T.(ConfigTransport)
	if !ok {
		return errors.New("the transport cannot manage files")
	}
	for _, f := range r.Files {
		if err := ct.WriteFile(ctx, r.Server, f.Path, f.Data, f.Mode); err != nil {
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
