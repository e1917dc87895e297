package executor

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/gitfleet/gitfleet/fleet"
	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/transport"
)

// ConfigTransport is what the environment lane (and the healing of a
// release's files) needs of a transport: read the digests of files, write
// one atomically, remove some. A write or removal of p stays inside root
// (docs/security.md): root itself must not be a symbolic link, and a link on
// the way below it is followed only while it resolves inside; otherwise it
// is refused with a *RootError and nothing is written.
type ConfigTransport interface {
	ReadFiles(ctx context.Context, srv *spec.Server, paths []string) (map[string]fleet.FileState, error)
	// WriteFile replaces p, below root, atomically; missing directories
	// between root and p are made, and so is root.
	WriteFile(ctx context.Context, srv *spec.Server, root, p string, data []byte, mode uint32) error
	// RemoveFiles removes the files paths, below root; missing ones are
	// no error.
	RemoveFiles(ctx context.Context, srv *spec.Server, root string, paths []string) error
}

// ObserveConfig reads the managed files of the environment on the server.
func (x *Executor) ObserveConfig(ctx context.Context, srv *spec.Server, paths []string) (map[string]fleet.FileState, error) {
	ct, ok := x.T.(ConfigTransport)
	if !ok {
		return nil, errors.New("the transport cannot manage files")
	}
	return ct.ReadFiles(ctx, srv, paths)
}

// ApplyConfig writes the files, each atomically and inside its root of
// ConfigRoots, then runs onChange in / on the server (its output logged).
// A write refused because it would leave its root fails the step (a
// *RootError) before onChange runs. A file written is never written
// back: a failing onChange is reported and tried again at the next pass.
func (x *Executor) ApplyConfig(ctx context.Context, r fleet.ConfigRequest) error {
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
