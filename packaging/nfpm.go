package packaging

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"time"

	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"
	"github.com/goreleaser/nfpm/v2/rpm"
)

// payload is what goes into the packages of one architecture, as files on
// disk.
type payload struct {
	Arch       string   // Go's name: amd64, arm64
	Version    string   // PackageVersion's
	Maintainer string   // Name <email>
	Binary     string   // the gitfleet binary for Arch
	Shipped    string   // a directory holding the files of files/
	ManDir     string   // a directory holding ManPages
	ManPages   []string // their names
	Docs       []string // files for /usr/share/doc/gitfleet
	MTime      time.Time
}

// info is the nfpm description of the package: every packager gets a fresh
// one, since nfpm changes what it is given.
func (p *payload) info() *nfpm.Info {
	file := func(src, dst string, mode os.FileMode) *files.Content {
		return &files.Content{Source: src, Destination: dst, FileInfo: &files.ContentFileInfo{Mode: mode, MTime: p.MTime}}
	}
	contents := files.Contents{
		file(p.Binary, BinaryPath, 0o755),
		file(filepath.Join(p.Shipped, UnitFile), UnitPath, 0o644),
		file(filepath.Join(p.Shipped, SysusersFile), SysusersPath, 0o644),
		{Destination: path.Dir(ConfigPath), Type: files.TypeDir, FileInfo: &files.ContentFileInfo{Mode: 0o755, MTime: p.MTime}},
		{Source: filepath.Join(p.Shipped, ConfigFile), Destination: ConfigPath, Type: files.TypeConfigNoReplace,
			FileInfo: &files.ContentFileInfo{Mode: 0o644, MTime: p.MTime}},
	}
	for _, m := range p.ManPages {
		contents = append(contents, file(filepath.Join(p.ManDir, m), path.Join(ManDir, m), 0o644))
	}
	for _, d := range p.Docs {
		contents = append(contents, file(d, path.Join(DocDir, filepath.Base(d)), 0o644))
	}
	info := &nfpm.Info{
		Name:       "gitfleet",
		Arch:       p.Arch,
		Platform:   "linux",
		Version:    p.Version,
		Section:    "admin",
		Priority:   "optional",
		Maintainer: p.Maintainer,
		Description: "GitOps reconciler for ordinary servers\n" +
			"gitfleet watches the desired state of a fleet of servers in Git and turns\n" +
			"every difference into a controlled push deployment over SSH, with\n" +
			"Prometheus metrics. This package runs it as a hardened systemd service.",
		MTime: p.MTime,
		Overridables: nfpm.Overridables{
			Recommends: []string{"ca-certificates"},
			Contents:   contents,
			Scripts: nfpm.Scripts{
				PostInstall: filepath.Join(p.Shipped, PostInstallFile),
				PreRemove:   filepath.Join(p.Shipped, PreRemoveFile),
				PostRemove:  filepath.Join(p.Shipped, PostRemoveFile),
			},
			// A fixed build host: the same build gives the same package.
			RPM: nfpm.RPM{Group: "System Environment/Daemons", Summary: "GitOps reconciler for ordinary servers", BuildHost: "gitfleet-dist"},
		},
	}
	return nfpm.WithDefaults(info)
}

// writePackage builds the package of format ("deb" or "rpm") into dir,
// under the name that format's conventions give it, and returns its path.
func writePackage(p *payload, format, dir string) (out string, err error) {
	var pk nfpm.Packager
	switch format {
	case "deb":
		pk = deb.Default
	case "rpm":
		pk = rpm.DefaultRPM
	default:
		return "", fmt.Errorf("package format %q: want deb or rpm", format)
	}
	out = filepath.Join(dir, pk.ConventionalFileName(p.info()))
	f, err := os.Create(out)
	if err != nil {
		return "", err
	}
	if err := pk.Package(p.info(), f); err != nil {
		f.Close()
		os.Remove(out)
		return "", fmt.Errorf("%s package for %s: %w", format, p.Arch, err)
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return out, nil
}
