package ssh

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/gitfleet/gitfleet/fleet"
	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/transport"
)

// readFilesScript prints, for each of the first $1 paths after it, its
// mode and digest ("none" when missing, "other" when not a regular file),
// then each of the other paths that is a regular file as "rec SIZE PATH"
// and its SIZE bytes ("rec-big PATH" when larger than $2).
const readFilesScript = `n=$1 max=$2; shift 2
i=0
for p in "$@"; do
  i=$((i+1))
  if [ $i -gt $n ]; then
    if [ -f "$p" ] && [ ! -L "$p" ]; then
      s=$(wc -c < "$p")
      if [ "$s" -gt "$max" ]; then printf 'rec-big - %s\n' "$p"
      else printf 'rec %s %s\n' "$s" "$p"; cat -- "$p"; fi
    fi
  elif [ -f "$p" ] && [ ! -L "$p" ]; then
    printf '%s %s %s\n' "$(stat -c %a "$p")" "$(sha256sum < "$p" | cut -d' ' -f1)" "$p"
  elif [ -e "$p" ] || [ -L "$p" ]; then printf 'other - %s\n' "$p"
  else printf 'none - %s\n' "$p"; fi
done`

// ReadFiles reads the managed files of a server and the records that are
// regular files (at most fleet.MaxEnvRecordBytes each), in one round trip.
func (s *SSH) ReadFiles(ctx context.Context, srv *spec.Server, paths, records []string) (map[string]fleet.FileState, map[string][]byte, error) {
	args := append([]string{strconv.Itoa(len(paths)), strconv.Itoa(fleet.MaxEnvRecordBytes)}, paths...)
	out, err := s.script(ctx, srv, readFilesScript, nil, append(args, records...)...)
	if err != nil {
		return nil, nil, fmt.Errorf("read managed files on %s: %w", srv.Name, err)
	}
	files, recs, err := parseReadFiles(out)
	if err != nil {
		return nil, nil, fmt.Errorf("read managed files on %s: %w", srv.Name, err)
	}
	return files, recs, nil
}

// parseReadFiles reads the output of readFilesScript.
func parseReadFiles(out []byte) (map[string]fleet.FileState, map[string][]byte, error) {
	files, recs := map[string]fleet.FileState{}, map[string][]byte{}
	r := bufio.NewReader(bytes.NewReader(out))
	for {
		line, err := r.ReadString('\n')
		if err == io.EOF && line == "" {
			return files, recs, nil
		}
		if err != nil {
			return nil, nil, fmt.Errorf("unterminated line %q", tail([]byte(line)))
		}
		f := strings.SplitN(strings.TrimSuffix(line, "\n"), " ", 3)
		if len(f) != 3 {
			return nil, nil, fmt.Errorf("unexpected line %q", tail([]byte(line)))
		}
		switch f[0] {
		case "none":
			files[f[2]] = fleet.FileState{}
		case "other":
			files[f[2]] = fleet.FileState{Exists: true}
		case "rec-big":
			return nil, nil, fmt.Errorf("%s: more than a record may hold (%d bytes)", f[2], fleet.MaxEnvRecordBytes)
		case "rec":
			n, err := strconv.Atoi(f[1])
			if err != nil || n < 0 || n > fleet.MaxEnvRecordBytes {
				return nil, nil, fmt.Errorf("%s: bad record size %q", f[2], f[1])
			}
			b := make([]byte, n)
			if _, err := io.ReadFull(r, b); err != nil {
				return nil, nil, fmt.Errorf("%s: record cut short", f[2])
			}
			recs[f[2]] = b
		default:
			m, err := strconv.ParseUint(f[0], 8, 32)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: bad mode %q", f[2], f[0])
			}
			files[f[2]] = fleet.FileState{Exists: true, Mode: uint32(m), Digest: f[1]}
		}
	}
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
	rel, err := transport.RelTo(root, p)
	if err != nil {
		return err
	}
	_, err = s.script(ctx, srv, writeFileScript, bytes.NewReader(data), root, rel, fmt.Sprintf("%o", mode), transport.RandomSuffix())
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
		rel, err := transport.RelTo(root, p)
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

// checksumsScript lists every regular file under $1 twice, NUL-terminated
// so that any legal name is read back exactly (a newline in a name cannot
// split a record, no name is escaped): "m MODE PATH" records from find,
// then "SUM  ./PATH" records from sha256sum -z.
const checksumsScript = `cd "$1" || exit 3
find . -type f -printf 'm %m %P\0'
find . -type f -print0 | xargs -0 -r sha256sum -z`

// Checksums hashes every regular file under dir on the server, in one
// round trip.
func (s *SSH) Checksums(ctx context.Context, srv *spec.Server, dir string) (map[string]fleet.FileSum, error) {
	out, err := s.script(ctx, srv, checksumsScript, nil, dir)
	if err != nil {
		return nil, fmt.Errorf("checksums of %s on %s: %w", dir, srv.Name, err)
	}
	return parseChecksums(out)
}

// parseChecksums reads the output of checksumsScript.
func parseChecksums(out []byte) (map[string]fleet.FileSum, error) {
	res := map[string]fleet.FileSum{}
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

// quoteMax bounds what an error quotes of a server's output.
const quoteMax = 4096

// tail keeps the end of what a server printed, bounded, for an error.
func tail(out []byte) string {
	if len(out) > quoteMax {
		out = append([]byte("…"), out[len(out)-quoteMax:]...)
	}
	return string(out)
}
