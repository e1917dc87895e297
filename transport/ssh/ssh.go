package ssh

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/gitfleet/gitfleet/fleet"
	"github.com/gitfleet/gitfleet/internal/proc"
	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/transport"
)

// The server side of the SSH transport is POSIX sh with GNU coreutils and
// GNU tar: every operation is one command, most of them one round trip.

// Path is the server's own path: commands run there.
func (s *SSH) Path(_ *spec.Server, p string) string { return p }

const inspectScript = `for d in "$@"; do
  printf '@dir %s\n' "$d"
  if [ -L "$d/current" ]; then printf '@current %s\n' "$(readlink "$d/current")"
  elif [ -e "$d/current" ]; then echo '@current-notlink'; fi
  if [ -d "$d/releases" ]; then
    for r in "$d"/releases/*/; do [ -d "$r" ] || continue; r=${r%/}; [ -L "$r" ] && continue; printf '@staged %s\n' "${r##*/}"; done
  fi
  if [ -f "$d/.gitfleet/state.json" ]; then echo '@state'; cat "$d/.gitfleet/state.json"; echo; echo '@end'; fi
done`

// Inspect reads every deployTo in one round trip.
func (s *SSH) Inspect(ctx context.Context, srv *spec.Server, deployTos []string) (map[string]*fleet.AppState, error) {
	out, err := s.script(ctx, srv, inspectScript, nil, deployTos...)
	if err != nil {
		return nil, fmt.Errorf("inspect %s: %w", srv.Name, err)
	}
	res, err := parseInspect(out, deployTos)
	for dt, st := range res {
		if st.Current != "" {
			s.currents.Store(srv.Name+"\x00"+dt, st.Current)
		} else {
			s.currents.Delete(srv.Name + "\x00" + dt)
		}
	}
	return res, err
}

func parseInspect(out []byte, deployTos []string) (map[string]*fleet.AppState, error) {
	res := make(map[string]*fleet.AppState, len(deployTos))
	for _, d := range deployTos {
		res[d] = &fleet.AppState{}
	}
	var st *fleet.AppState
	var state *bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		if state != nil {
			if line == "@end" {
				st.SetMarker(fleet.DecodeMarker(state.Bytes()))
				state = nil
				continue
			}
			state.WriteString(line + "\n")
			continue
		}
		key, val, _ := strings.Cut(line, " ")
		switch key {
		case "@dir":
			st = res[val]
			if st == nil {
				return nil, fmt.Errorf("inspect: unexpected directory %q", val)
			}
		case "@current":
			st.Current, st.CurrentTarget = fleet.ParseCurrent(val)
		case "@current-notlink":
			st.CurrentTarget = "(not a symlink)"
		case "@staged":
			if !strings.HasPrefix(val, ".") {
				st.Staged = append(st.Staged, val)
			}
		case "@state":
			state = &bytes.Buffer{}
		}
	}
	return res, sc.Err()
}

// switchScript points current at releases/$2 (or removes it when $2 is
// empty) inside the root $1: the release is entered to touch it, and the
// new link is made in the root and renamed over current.
const switchScript = confineSh + `set -e
if ! gf_root "$1"; then
  if [ -z "$2" ]; then exit 0; fi
  echo "release $2 is not staged" >&2; exit 1
fi
if [ -z "$2" ]; then rm -f current; exit 0; fi
if ! gf_cd "releases/$2"; then echo "release $2 is not staged" >&2; exit 1; fi
touch -c .
gf_home
ln -sfn "releases/$2" ".tmp-current-$3"
mv -Tf ".tmp-current-$3" current`

// Switch replaces current with a new link by rename, or removes it.
func (s *SSH) Switch(ctx context.Context, srv *spec.Server, deployTo, id string) error {
	_, err := s.script(ctx, srv, switchScript, nil, deployTo, id, transport.RandomSuffix())
	return refusal(err, path.Join(deployTo, "current"), deployTo)
}

const markerScript = confineSh + `set -e
gf_root "$1" make
gf_cd .gitfleet make
set -C
cat > ".tmp-state.json-$2"
mv -Tf ".tmp-state.json-$2" state.json`

// WriteMarker writes state.json through a temporary file and rename,
// inside deployTo.
func (s *SSH) WriteMarker(ctx context.Context, srv *spec.Server, deployTo string, m *fleet.Marker) error {
	data, err := fleet.EncodeMarker(m)
	if err != nil {
		return err
	}
	_, err = s.script(ctx, srv, markerScript, bytes.NewReader(data), deployTo, transport.RandomSuffix())
	return refusal(err, path.Join(deployTo, ".gitfleet", "state.json"), deployTo)
}

// Run runs command with sh in dir on the server, its environment
// exported first; it returns the combined output (the last 64 KiB).
func (s *SSH) Run(ctx context.Context, srv *spec.Server, dir string, env []string, command string) ([]byte, error) {
	var b strings.Builder
	b.WriteString("cd " + shellQuote(dir) + " && ")
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		b.WriteString("export " + k + "=" + shellQuote(v) + " && ")
	}
	if dl, ok := ctx.Deadline(); ok {
		// The server ends the command itself once the deadline is past,
		// with its whole process group, even if the connection is gone.
		secs := int(time.Until(dl).Seconds()) + 2
		b.WriteString("exec timeout -s KILL " + strconv.Itoa(secs) + " ")
	} else {
		b.WriteString("exec ")
	}
	b.WriteString("sh -c " + shellQuote(command))
	var out proc.TailBuffer
	err := s.exec(ctx, srv, b.String(), nil, &out, &out)
	return out.Bytes(), err
}

// pruneScript removes, inside the root $1, leftovers of interrupted steps,
// the releases beyond the $2 most recently used ones not in the rest of
// the arguments, and manifests without a release.
const pruneScript = confineSh + `d=$1 room=$2; shift 2
gf_root "$d" || exit 0
rm -f .tmp-current-* 2>/dev/null
if gf_cd .gitfleet; then rm -f .tmp-* 2>/dev/null; fi
gf_home
if gf_cd .gitfleet/manifests; then rm -f .tmp-* 2>/dev/null; fi
gf_home
gf_cd releases || exit 0
for t in .tmp-*; do
  [ -e "$t" ] || continue
  find "./$t" -type d -exec chmod u+w {} + 2>/dev/null; rm -rf -- "$t"
done
n=0
set -f
for r in $(ls -1t); do
  keep=no
  for k in "$@"; do [ "$r" = "$k" ] && keep=yes; done
  [ $keep = yes ] && continue
  n=$((n+1))
  if [ $n -gt "$room" ]; then
    find "./$r" -type d -exec chmod u+w {} + 2>/dev/null; rm -rf -- "$r"
  fi
done
set +f
gf_home
gf_cd .gitfleet/manifests || exit 0
for m in *.json; do
  [ -e "$m" ] || continue
  r=${m%.json}
  [ -d "$gf_R/releases/$r" ] || rm -f -- "$m"
done`

// Prune removes releases beyond max, least recently used first, never one
// in keep, with their manifests and leftovers of interrupted steps.
func (s *SSH) Prune(ctx context.Context, srv *spec.Server, deployTo string, keep []string, max int) error {
	room := max - len(keep)
	if room < 0 {
		room = 0
	}
	_, err := s.script(ctx, srv, pruneScript, nil, append([]string{deployTo, strconv.Itoa(room)}, keep...)...)
	return refusal(err, path.Join(deployTo, "releases"), deployTo)
}
