package packaging

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
)

// Options say what Dist builds.
type Options struct {
	Module     string   // the repository root (holds go.mod)
	Out        string   // where the artifacts go; created if missing
	Arches     []string // Go architectures, e.g. amd64, arm64
	Build      Build
	Maintainer string // Name <email> of the packages
	GoTool     string // the go command; "go" if empty
}

// Artifact is a file Dist wrote.
type Artifact struct {
	Path string
	Size int64
}

// Dist builds, for every architecture of o, the binary, a tar.gz archive, a
// .deb and an .rpm into o.Out, then SHA256SUMS over them. The man pages
// come from a binary built for this machine.
func Dist(ctx context.Context, o Options) ([]Artifact, error) {
	if len(o.Arches) == 0 {
		return nil, fmt.Errorf("dist: no architecture")
	}
	version, err := PackageVersion(o.Build.Version)
	if err != nil {
		return nil, err
	}
	// The commit goes into -ldflags: nothing but a hash.
	if !commitHash.MatchString(o.Build.Commit) && o.Build.Commit != "unknown" {
		return nil, fmt.Errorf("commit %q: want a hexadecimal commit hash or unknown", o.Build.Commit)
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", "gitfleet-dist-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)

	bins := map[string]string{}
	for _, arch := range o.Arches {
		bins[arch] = filepath.Join(work, arch, "gitfleet")
		if err := BuildBinary(ctx, o.GoTool, o.Module, arch, o.Build, bins[arch]); err != nil {
			return nil, err
		}
	}
	host, ok := bins[runtime.GOARCH]
	if !ok {
		host = filepath.Join(work, "host", "gitfleet")
		if err := BuildBinary(ctx, o.GoTool, o.Module, runtime.GOARCH, o.Build, host); err != nil {
			return nil, err
		}
	}
	manDir := filepath.Join(work, "man")
	shippedDir := filepath.Join(work, "files")
	for _, d := range []string{manDir, shippedDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	man, err := ManPages(ctx, host, manDir)
	if err != nil {
		return nil, err
	}
	if err := writeShipped(shippedDir); err != nil {
		return nil, err
	}
	var names []string
	for _, arch := range o.Arches {
		p := &payload{
			Arch: arch, Version: version, Maintainer: o.Maintainer, Binary: bins[arch],
			Shipped: shippedDir, ManDir: manDir, ManPages: man, MTime: o.Build.Date,
			Docs: []string{filepath.Join(o.Module, "README.md"), filepath.Join(o.Module, "docs", "install.md")},
		}
		written, err := assemble(p, o.Out)
		if err != nil {
			return nil, err
		}
		for _, w := range written {
			names = append(names, filepath.Base(w))
		}
	}
	if err := writeSums(o.Out, names); err != nil {
		return nil, err
	}
	names = append(names, SumsFile)
	sort.Strings(names)
	var arts []Artifact
	for _, n := range names {
		fi, err := os.Stat(filepath.Join(o.Out, n))
		if err != nil {
			return nil, err
		}
		arts = append(arts, Artifact{Path: filepath.Join(o.Out, n), Size: fi.Size()})
	}
	return arts, nil
}

// assemble writes the archive, the .deb and the .rpm of one architecture
// into out and returns their paths.
func assemble(p *payload, out string) ([]string, error) {
	top := fmt.Sprintf("gitfleet_%s_linux_%s", p.Version, p.Arch)
	files := []archiveFile{
		{Name: "gitfleet", Source: p.Binary, Mode: 0o755},
		{Name: "gitfleet.yaml", Source: filepath.Join(p.Shipped, ConfigFile), Mode: 0o644},
		{Name: "systemd/gitfleet.service", Source: filepath.Join(p.Shipped, UnitFile), Mode: 0o644},
		{Name: "systemd/gitfleet.sysusers.conf", Source: filepath.Join(p.Shipped, SysusersFile), Mode: 0o644},
	}
	for _, m := range p.ManPages {
		files = append(files, archiveFile{Name: "man/man1/" + m, Source: filepath.Join(p.ManDir, m), Mode: 0o644})
	}
	for _, d := range p.Docs {
		files = append(files, archiveFile{Name: filepath.Base(d), Source: d, Mode: 0o644})
	}
	archive := filepath.Join(out, top+".tar.gz")
	if err := writeArchive(archive, top, files, p.MTime); err != nil {
		return nil, fmt.Errorf("archive for %s: %w", p.Arch, err)
	}
	written := []string{archive}
	for _, format := range []string{"deb", "rpm"} {
		path, err := writePackage(p, format, out)
		if err != nil {
			return nil, err
		}
		written = append(written, path)
	}
	return written, nil
}
