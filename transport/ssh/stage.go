package ssh

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"path"
	"sync/atomic"
	"time"

	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/transport"
	"github.com/gitfleet/gitfleet/tree"
)

// Staging over SSH: one tar stream per release and server, built on a
// hard-linked copy of the release current points to.

const baseScript = `cd "$1" 2>/dev/null || exit 0
if [ -L current ]; then t=$(readlink current); r=${t#releases/}
  if [ -d "releases/$r" ] && [ -f ".gitfleet/manifests/$r.json" ]; then echo "$r"; cat ".gitfleet/manifests/$r.json"; fi
fi`

// base finds the release a new one is built from: the current one, when
// it is staged and described by a manifest.
func (s *SSH) base(ctx context.Context, srv *spec.Server, deployTo string) (string, *Manifest, error) {
	out, err := s.script(ctx, srv, baseScript, nil, deployTo)
	if err != nil {
		return "", nil, err
	}
	id, rest, ok := bytes.Cut(out, []byte("\n"))
	if !ok || len(id) == 0 {
		return "", nil, nil
	}
	if m, ok := s.manifests.Load(string(id)); ok {
		return string(id), m, nil
	}
	m, err := parseManifest(rest)
	if err != nil {
		return "", nil, nil // an unreadable manifest: send everything
	}
	s.manifests.Store(string(id), m)
	return string(id), m, nil
}

// stageScript builds releases/<id> under a temporary name: a hard-linked
// copy of the base release (if any) from which every path that is gone or
// changed is removed, so that no write can go through a link into the base;
// then the tar stream of stdin (new and changed entries) extracted over it;
// then renamed. Every step stays inside deployTo (confineSh), and the copy
// must hold exactly the symbolic links of the base's manifest ($6 is the
// digest of their "path<TAB>target" lines, sorted): a directory of the base
// swapped for a link since would take the removals and the extraction out
// of the release. Exit status 3: the base cannot be used, choose again.
const stageScript = confineSh + `set -e
d=$1 id=$2 base=$3 rnd=$4 rodirs=$5 links=$6; shift 6
gf_root "$d" make
gf_cd releases make
R=$PWD
if [ -L "$id" ]; then echo "$d/releases/$id is a symbolic link, not a release directory" >&2; exit 1; fi
if [ -d "$id" ]; then cat >/dev/null; exit 0; fi
# A base that is gone (pruned since it was chosen) would leave the
# release incomplete: the caller chooses again.
if [ -n "$base" ] && { [ -L "$base" ] || [ ! -d "$base" ]; }; then exit 3; fi
tmp=".tmp-$id-$rnd"
trap 'if cd -P -- "$R" 2>/dev/null && [ "$PWD" = "$R" ] && [ -e "$tmp" ]; then find "./$tmp" -type d -exec chmod u+w {} + 2>/dev/null; rm -rf -- "$tmp"; fi' EXIT
mkdir "$tmp"
if [ -n "$base" ]; then
  cp -al "$base" "$tmp/release"
  have=$(cd "$tmp/release" && LC_ALL=C find . -type l \( -path '*[[:cntrl:]]*' -o -lname '*[[:cntrl:]]*' \) -printf '!\n' -o -type l -printf '%P\t%l\n' | LC_ALL=C sort | sha256sum)
  if [ "${have%% *}" != "$links" ]; then exit 3; fi
  if [ "$rodirs" = yes ]; then find "$tmp/release" -type d ! -perm -u+w -exec chmod u+w {} +; fi
  if [ $# -gt 0 ]; then (cd "$tmp/release" && rm -rf -- "$@"); fi
fi
tar -x -p --no-same-owner -C "$tmp" -f -
# The manifest is copied from inside .gitfleet/manifests, entered (and
# so checked) just now, not through a path checked before the transfer.
exec 3< "$tmp/manifest.json"
gf_home
gf_cd .gitfleet/manifests make
set -C
cat <&3 > ".tmp-$id.json-$rnd"
exec 3<&-
mv -Tf ".tmp-$id.json-$rnd" "$id.json"
gf_home
gf_cd releases
mv -T "$tmp/release" "$id"`

// maxRemoveArgs bounds the paths removed by argument; a longer list sends
// the release whole instead.
const maxRemoveArgs = 64 << 10

// Stage sends the release as a tar stream over one exec channel. Files
// that the current release on the server already has (same content and
// mode) are hard-linked from it instead of sent.
func (s *SSH) Stage(ctx context.Context, srv *spec.Server, deployTo, id string, t *tree.Tree) error {
	// The release current pointed to when the server was last inspected,
	// when its manifest is known here, saves asking for it: releases are
	// immutable, so it is a good base as long as it is still there.
	if hint, ok := s.currents.Load(srv.Name + "\x00" + deployTo); ok && hint.(string) != id {
		if m, ok := s.manifests.Load(hint.(string)); ok {
			err := s.stageFrom(ctx, srv, deployTo, id, t, hint.(string), m)
			if !errors.Is(err, errBaseGone) {
				return err
			}
		}
	}
	baseID, baseManifest, err := s.base(ctx, srv, deployTo)
	if err != nil {
		return err
	}
	if baseID == id {
		return nil // already there and current
	}
	err = s.stageFrom(ctx, srv, deployTo, id, t, baseID, baseManifest)
	if errors.Is(err, errBaseGone) {
		// Pruned between the two round trips: send it whole.
		err = s.stageFrom(ctx, srv, deployTo, id, t, "", nil)
	}
	return err
}

// errBaseGone is the stage script's exit status 3: the base release is no
// longer on the server, or its copy holds links its manifest does not.
var errBaseGone = errors.New("base release gone")

func (s *SSH) stageFrom(ctx context.Context, srv *spec.Server, deployTo, id string, t *tree.Tree, baseID string, baseManifest *Manifest) error {
	var d delta
	if baseManifest != nil {
		d = computeDelta(baseManifest, t)
		size := 0
		for _, p := range d.remove {
			size += len(p) + 3
		}
		if size > maxRemoveArgs {
			baseID, baseManifest = "", nil
		}
	}
	if baseManifest == nil {
		d = delta{send: t.Entries()}
	}
	manifest := ManifestOf(t)
	s.manifests.Store(id, manifest)

	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(writeTar(pw, d.send, manifest.marshal()))
	}()
	counted := &countingReader{r: pr}
	// Read-only directories of the base must be made writable in the
	// copy before anything is removed or extracted; walking the copy for
	// them costs a stat per file, so only when the manifest has one.
	rodirs := "no"
	if baseManifest != nil {
		for _, e := range baseManifest.Entries {
			if e.Kind == tree.Dir && e.Perm&0o200 == 0 {
				rodirs = "yes"
				break
			}
		}
	}
	links := ""
	if baseManifest != nil {
		links = baseManifest.linksDigest()
	}
	args := append([]string{deployTo, id, baseID, transport.RandomSuffix(), rodirs, links}, d.remove...)
	_, err := s.script(ctx, srv, stageScript, counted, args...)
	pr.CloseWithError(io.ErrClosedPipe)
	s.sent.Add(counted.n.Load())
	var ee *ExitError
	if errors.As(err, &ee) && ee.Code == 3 {
		return errBaseGone
	}
	return refusal(err, path.Join(deployTo, "releases", id), deployTo)
}

// Sent is how many bytes of release content (the tar streams) Stage has
// sent so far.
func (s *SSH) Sent() int64 { return s.sent.Load() }

type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// writeTar writes the entries under release/ and the manifest beside it.
func writeTar(w io.Writer, entries []*tree.Entry, manifest []byte) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	tw := tar.NewWriter(bw)
	mod := time.Now().Truncate(time.Second)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "release/", Mode: 0o755, ModTime: mod}); err != nil {
		return err
	}
	for _, e := range entries {
		h := &tar.Header{Name: "release/" + e.Path, Mode: int64(e.Perm), ModTime: mod}
		switch e.Kind {
		case tree.Dir:
			h.Typeflag, h.Name = tar.TypeDir, h.Name+"/"
		case tree.Symlink:
			h.Typeflag, h.Linkname = tar.TypeSymlink, e.Target
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.Data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if e.Kind == tree.File {
			if _, err := tw.Write(e.Data); err != nil {
				return err
			}
		}
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "manifest.json", Mode: 0o644, Size: int64(len(manifest)), ModTime: mod}); err != nil {
		return err
	}
	if _, err := tw.Write(manifest); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return bw.Flush()
}
