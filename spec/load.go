package spec

import (
	"path"
	"sort"
	"strings"

	"github.com/gitfleet/gitfleet/internal/strictyaml"
	"github.com/gitfleet/gitfleet/tree"
	"go.yaml.in/yaml/v3"
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

// Load decodes and validates the desired state. YAML files inside an App's
// artifact directory belong to the artifact and are not read as desired
// state. The error, if any, is an Errors listing every problem.
func Load(files []File) (*Desired, error) {
	var errs errorList
	var docs []document
	for _, f := range files {
		docs = append(docs, parseFile(f, &errs)...)
	}
	// Artifact directories hold the app's own files, YAML included.
	artifactDirs := map[string]bool{}
	for _, d := range docs {
		if d.kind != KindApp {
			continue
		}
		if a := strictyaml.MapValue(d.node, "artifact"); a != nil && a.Kind == yaml.MappingNode && strictyaml.MapValue(a, "git") == nil {
			if p := strictyaml.MapValue(a, "path"); p != nil && p.Value != "" {
				artifactDirs[path.Clean(p.Value)] = true
			}
		}
	}
	inArtifact := func(file string) bool {
		for dir := path.Dir(file); dir != "." && dir != "/"; dir = path.Dir(dir) {
			if artifactDirs[dir] {
				return true
			}
		}
		return false
	}
	kept := errs.errs[:0]
	for _, e := range errs.errs {
		if !inArtifact(e.Pos.File) {
			kept = append(kept, e)
		}
	}
	errs.errs = kept

	d := &Desired{envs: map[string]*Environment{}, apps: map[string]*App{}}
	for _, doc := range docs {
		if inArtifact(doc.file) {
			continue
		}
		pos := Pos{doc.file, doc.node.Line}
		switch doc.kind {
		case KindEnvironment:
			e := &Environment{}
			if lines, ok := decodeStrict(doc, e, &errs); ok {
				e.src = source{pos, lines}
				d.Environments = append(d.Environments, e)
			}
		case KindApp:
			a := &App{}
			if lines, ok := decodeStrict(doc, a, &errs); ok {
				a.src = source{pos, lines}
				d.Apps = append(d.Apps, a)
			}
		case KindRelease:
			r := &Release{}
			if lines, ok := decodeStrict(doc, r, &errs); ok {
				r.src = source{pos, lines}
				d.Releases = append(d.Releases, r)
			}
		case "":
			errs.add(pos, "document has no kind (want %s, %s or %s)", KindEnvironment, KindApp, KindRelease)
		default:
			errs.add(Pos{doc.file, strictyaml.MapValue(doc.node, "kind").Line}, "unknown kind %q (want %s, %s or %s)", doc.kind, KindEnvironment, KindApp, KindRelease)
		}
	}
	validate(d, &errs)
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
