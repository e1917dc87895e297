package executor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/gitfleet/gitfleet/fleet"
	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/transport"
)

// ConfigTransport is what the environment lane (and the healing of a
// release's files) needs of a transport: read the digests of files and
// the records gitfleet keeps beside them, write one file atomically,
// remove some. A write or removal of p stays inside root
// (docs/security.md): root itself must not be a symbolic link, and a link on
// the way below it is followed only while it resolves inside; otherwise it
// is refused with a *transport.RootError and nothing is written.
type ConfigTransport interface {
	// ReadFiles reads the digest and mode of each of paths, and the
	// content of each of records that is a regular file (at most
	// fleet.MaxEnvRecordBytes; a missing one is absent from the map).
	ReadFiles(ctx context.Context, srv *spec.Server, paths, records []string) (map[string]fleet.FileState, map[string][]byte, error)
	// WriteFile replaces p, below root, atomically; missing directories
	// between root and p are made, and so is root.
	WriteFile(ctx context.Context, srv *spec.Server, root, p string, data []byte, mode uint32) error
	// RemoveFiles removes the files paths, below root; missing ones are
	// no error.
	RemoveFiles(ctx context.Context, srv *spec.Server, root string, paths []string) error
}

// ObserveConfig reads the managed files of environment env on the server,
// and what the environment lane recorded it applied below their roots
// (fleet.EnvRecordPath). A record of a newer format than this gitfleet
// reads is an error: the lane is not to write over it.
func (x *Executor) ObserveConfig(ctx context.Context, srv *spec.Server, env string, paths []string) (fleet.ConfigState, error) {
	ct, ok := x.T.(ConfigTransport)
	if !ok {
		return fleet.ConfigState{}, errors.New("the transport cannot manage files")
	}
	ctx, cancel := x.bound(ctx)
	defer cancel()
	rootOf := map[string]string{}
	var records []string
	for _, p := range paths {
		root, err := configRoot(x.ConfigRoots, p)
		if err != nil {
			return fleet.ConfigState{}, err
		}
		rec := fleet.EnvRecordPath(root, env)
		if _, seen := rootOf[rec]; !seen {
			records = append(records, rec)
		}
		rootOf[rec], rootOf[p] = root, rec
	}
	files, recs, err := ct.ReadFiles(ctx, srv, paths, records)
	if err != nil {
		return fleet.ConfigState{}, err
	}
	st := fleet.ConfigState{Files: files, Applied: map[string]fleet.FileState{}, NoRecord: map[string]bool{}}
	decoded := map[string]*fleet.EnvRecord{}
	for rec, b := range recs {
		r, err := fleet.DecodeEnvRecord(b)
		if err != nil {
			return fleet.ConfigState{}, fmt.Errorf("%s on %s: %w", rec, srv.Name, err)
		}
		decoded[rec] = r
	}
	for _, p := range paths {
		r := decoded[rootOf[p]]
		if r == nil {
			st.NoRecord[p] = true
		} else if fs, ok := r.Files[p]; ok {
			st.Applied[p] = fs
		}
	}
	return st, nil
}

// ApplyConfig writes the files, each atomically and inside its root of
// ConfigRoots, runs onChange in / on the server (its output logged), and
// then records below each root what the environment lane applied there:
// every managed file of the server (r.All) as desired now. A write
// refused because it would leave its root fails the step (a
// *transport.RootError) before onChange runs. A failing onChange leaves
// the record as it was: the next pass applies the files again and runs
// onChange again. With no file to write, only the records are written.
func (x *Executor) ApplyConfig(ctx context.Context, r fleet.ConfigRequest) error {
	ct, ok := x.T.(ConfigTransport)
	if !ok {
		return errors.New("the transport cannot manage files")
	}
	fail := func(err error) error {
		return fmt.Errorf("environment %s on %s: %w", r.Environment, r.Server.Name, err)
	}
	for _, f := range r.Files {
		root, err := configRoot(x.ConfigRoots, f.Path)
		if err == nil {
			err = x.writeFile(ctx, ct, r.Server, root, f.Path, f.Data, f.Mode)
		}
		if err != nil {
			return fail(err)
		}
		r.Log.Info("managed file written", "path", f.Path, "digest", f.Digest[:12])
	}
	if r.OnChange != "" && len(r.Files) > 0 {
		if err := x.onChange(ctx, r); err != nil {
			return fail(err)
		}
	}
	if err := x.writeRecords(ctx, ct, r); err != nil {
		return fail(fmt.Errorf("record what was applied: %w", err))
	}
	return nil
}

// onChange runs the environment's onChange command after its files were
// written, bounded by ctx.
func (x *Executor) onChange(ctx context.Context, r fleet.ConfigRequest) error {
	env := []string{"GITFLEET_ENVIRONMENT=" + r.Environment, "GITFLEET_SERVER=" + r.Server.Name, "GITFLEET_REVISION=" + r.Revision}
	var changed []string
	for _, f := range r.Files {
		changed = append(changed, f.Path)
	}
	env = append(env, "GITFLEET_CHANGED_FILES="+strings.Join(changed, " "))
	out, err := x.T.Run(ctx, r.Server, path.Clean("/"), env, r.OnChange)
	if err != nil {
		return fmt.Errorf("onChange: %w", withOutput(err, out))
	}
	if len(out) > 0 {
		r.Log.Info("onChange output", "output", tail(out))
	}
	return nil
}

// writeRecords records, below each root holding managed files of the
// server, what the environment lane applied there.
func (x *Executor) writeRecords(ctx context.Context, ct ConfigTransport, r fleet.ConfigRequest) error {
	byRoot := map[string]*fleet.EnvRecord{}
	var roots []string
	for _, f := range r.All {
		root, err := configRoot(x.ConfigRoots, f.Path)
		if err != nil {
			return err
		}
		rec := byRoot[root]
		if rec == nil {
			rec = &fleet.EnvRecord{Format: fleet.EnvRecordFormat, Environment: r.Environment, Revision: r.Revision, AppliedAt: x.now(), Files: map[string]fleet.FileState{}}
			byRoot[root] = rec
			roots = append(roots, root)
		}
		rec.Files[f.Path] = fleet.FileState{Exists: true, Digest: f.Digest, Mode: f.Mode}
	}
	for _, root := range roots {
		data, err := json.MarshalIndent(byRoot[root], "", "  ")
		if err != nil {
			return err
		}
		if err := x.writeFile(ctx, ct, r.Server, root, fleet.EnvRecordPath(root, r.Environment), append(data, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// writeFile writes a file below root, bounded by StepTimeout.
func (x *Executor) writeFile(ctx context.Context, ct ConfigTransport, srv *spec.Server, root, p string, data []byte, mode uint32) error {
	ctx, cancel := x.bound(ctx)
	defer cancel()
	return ct.WriteFile(ctx, srv, root, p, data, mode)
}

// configRoot is the root a managed file is written in: the deepest of
// roots (environmentFiles.roots) below which it lies.
func configRoot(roots []string, p string) (string, error) {
	if roots == nil {
		return "", &transport.RootError{Path: p, Reason: "no environmentFiles.roots are configured, so managed files are not written"}
	}
	best := ""
	for _, r := range roots {
		r = path.Clean(r)
		if (r == "/" || strings.HasPrefix(p, r+"/")) && len(r) > len(best) {
			best = r
		}
	}
	if best == "" {
		return "", &transport.RootError{Path: p, Reason: fmt.Sprintf("not below any root of environmentFiles (%s)", strings.Join(roots, ", "))}
	}
	return best, nil
}
