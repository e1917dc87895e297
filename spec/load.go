package spec

import (
	"sort"
	"strings"

	"github.com/gitfleet/gitfleet/tree"
)

// File is one file of the desired-state repository.
type File struct {
	Path string // slash-separated, relative to the repository root
	Data []byte
}

// IsSpecFile reports whether a repository file is read as desired state:
// YAML files outside hidden directories.
func IsSpecFile(p string) bool {
	if !strings.HasSuffix(p, ".yaml") && !strings.HasSuffix(p, ".yml") {
		return false
	}
	for _, part := range strings.Split(p, "/") {
		if strings.HasPrefix(part, ".") {
			return false
		}
	}
	return true
}

// FilesOf returns the desired-state files of a tree.
func FilesOf(t *tree.Tree) []File {
	var files []File
	for _, e := range t.Files(IsSpecFile) {
		files = append(files, File{Path: e.Path, Data: e.Data})
	}
	return files
}

// Load decodes and validates the desired state with the default Options.
func Load(files []File) (*Desired, error) { return Options{}.Load(files) }

// Load decodes and validates the desired state. YAML files inside an
// App's artifact directory belong to the artifact and are not desired
// state. The error, if any, is an Errors listing every problem (at most
// MaxErrorsPerFile of a file, MaxErrors in all).
func (o Options) Load(files []File) (*Desired, error) {
	o = o.withDefaults()
	var errs errorList
	l := &loader{opts: o, errs: &errs, artifactDirs: map[string]bool{},
		d: &Desired{envs: map[string]*Environment{}, apps: map[string]*App{}}}
	for _, f := range files {
		l.file(f)
	}
	l.dropArtifacts()
	d := l.d
	validate(d, o, &errs)
	if len(d.Environments) == 0 && errs.count() == 0 && !o.AllowEmpty {
		errs.add(Pos{}, "the desired state has no Environment: every server would be left unmanaged; set allowEmpty: true in gitfleet.yaml if that is what you want")
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	sort.Slice(d.Environments, func(i, j int) bool { return d.Environments[i].Name < d.Environments[j].Name })
	sort.Slice(d.Apps, func(i, j int) bool { return d.Apps[i].Name < d.Apps[j].Name })
	sort.Slice(d.Releases, func(i, j int) bool {
		a, b := d.Releases[i], d.Releases[j]
		if a.Environment != b.Environment {
			return a.Environment < b.Environment
		}
		return a.App < b.App
	})
	return d, nil
}

// checkDatabases reports every Release whose database.target is not a
// database of the configuration.
func checkDatabases(d *Desired, names []string, errs *errorList) {
	known := map[string]bool{}
	for _, n := range names {
		known[n] = true
	}
	list := append([]string(nil), names...)
	sort.Strings(list)
	for _, r := range d.Releases {
		if r.Database == nil || known[r.Database.Target] {
			continue
		}
		have := "none"
		if len(list) > 0 {
			have = strings.Join(list, ", ")
		}
		errs.add(r.PosOf("database.target"), "database.target %q is not a database of gitfleet.yaml (databases: %s)", r.Database.Target, have)
	}
}
