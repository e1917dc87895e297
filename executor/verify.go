package executor

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"sort"

	"github.com/gitfleet/gitfleet/fleet"
	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/tree"
)

// ChecksumTransport reads the checksums of the regular files under a
// directory of a server.
type ChecksumTransport interface {
	Checksums(ctx context.Context, srv *spec.Server, dir string) (map[string]fleet.FileSum, error)
}

// Verify compares the files of a release on the server with the release
// itself, and returns the paths that differ: changed content or mode,
// missing, or not part of the release. Symbolic links and directories
// are not compared.
func (x *Executor) Verify(ctx context.Context, srv *spec.Server, app *spec.App, rel fleet.Release) ([]string, error) {
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
func (x *Executor) Heal(ctx context.Context, r fleet.Request, paths []string) error {
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
		if err := x.writeFile(ctx, ct, r.Server, root, path.Join(dir, p), e.Data, uint32(e.Perm)); err != nil {
			return fmt.Errorf("heal %s on %s: %w", r.App.Name, r.Server.Name, err)
		}
	}
	if len(remove) > 0 {
		if err := x.removeFiles(ctx, ct, r.Server, root, remove); err != nil {
			return fmt.Errorf("heal %s on %s: remove files not in the release: %w", r.App.Name, r.Server.Name, err)
		}
	}
	r.Log.Warn("content drift healed", "release", r.Release.ID, "files", len(paths))
	if se := x.bringUp(ctx, r, r.Release, ""); se != nil {
		return fmt.Errorf("heal %s on %s: %s: %w", r.App.Name, r.Server.Name, se.step, se.err)
	}
	return nil
}
