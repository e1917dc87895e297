package spec

import (
	"bytes"
	"errors"
	"io"
	"path"

	"github.com/gitfleet/gitfleet/internal/strictyaml"
	"go.yaml.in/yaml/v3"
)

// loader reads files one document at a time: each document is decoded as
// soon as it is parsed and its YAML nodes are dropped, so that memory
// holds the decoded desired state and one document's nodes, never every
// file's.
type loader struct {
	opts Options
	errs *errorList
	d    *Desired
	// artifactDirs are the artifact.path of every App document seen,
	// valid or not: YAML below them belongs to the artifact.
	artifactDirs map[string]bool
}

// file parses and decodes every document of f. Empty documents (a stray
// "---", comments only) are skipped.
func (l *loader) file(f File) {
	if n := int64(len(f.Data)); n > l.opts.MaxFileBytes {
		l.errs.add(Pos{File: f.Path}, "file is %d bytes, more than limits.maxFileBytes (%d)", n, l.opts.MaxFileBytes)
		return
	}
	dec := yaml.NewDecoder(bytes.NewReader(f.Data))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			addProblems(f.Path, strictyaml.Problems(err), l.errs)
			return
		}
		if len(n.Content) == 0 {
			continue
		}
		root := n.Content[0]
		if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
			continue
		}
		if root.Kind != yaml.MappingNode {
			l.errs.add(Pos{f.Path, root.Line}, "a document must be a mapping with a kind, not a %s", strictyaml.KindName(root))
			continue
		}
		l.document(f.Path, root)
	}
}

// document decodes one document's root mapping.
func (l *loader) document(file string, root *yaml.Node) {
	pos := Pos{file, root.Line}
	kind := ""
	if v := strictyaml.MapValue(root, "kind"); v != nil {
		kind = v.Value
	}
	if kind == KindApp {
		if a := strictyaml.MapValue(root, "artifact"); a != nil && a.Kind == yaml.MappingNode && strictyaml.MapValue(a, "git") == nil {
			if p := strictyaml.MapValue(a, "path"); p != nil && p.Value != "" {
				l.artifactDirs[path.Clean(p.Value)] = true
			}
		}
	}
	// Aliases let a small document stand for a huge one: bound what it
	// expands to before anything walks it.
	if _, ok := strictyaml.ExpandedSize(root, l.opts.MaxFileBytes); !ok {
		l.errs.add(pos, "the document's aliases expand it to more than limits.maxFileBytes (%d bytes)", l.opts.MaxFileBytes)
		return
	}
	d := l.d
	switch kind {
	case KindEnvironment:
		e := &Environment{}
		if lines, ok := decodeStrict(file, root, e, l.errs); ok {
			e.src = source{pos, lines}
			d.Environments = append(d.Environments, e)
		}
	case KindApp:
		a := &App{}
		if lines, ok := decodeStrict(file, root, a, l.errs); ok {
			a.src = source{pos, lines}
			d.Apps = append(d.Apps, a)
		}
	case KindRelease:
		r := &Release{}
		if lines, ok := decodeStrict(file, root, r, l.errs); ok {
			r.src = source{pos, lines}
			d.Releases = append(d.Releases, r)
		}
	case "":
		l.errs.add(pos, "document has no kind (want %s, %s or %s)", KindEnvironment, KindApp, KindRelease)
	default:
		l.errs.add(Pos{file, strictyaml.MapValue(root, "kind").Line}, "unknown kind %q (want %s, %s or %s)", kind, KindEnvironment, KindApp, KindRelease)
	}
}

// inArtifact reports whether a file lies in an App's artifact directory.
func (l *loader) inArtifact(file string) bool {
	for dir := path.Dir(file); dir != "." && dir != "/"; dir = path.Dir(dir) {
		if l.artifactDirs[dir] {
			return true
		}
	}
	return false
}

// dropArtifacts forgets what was read from files of artifact directories.
func (l *loader) dropArtifacts() {
	l.errs.forget(l.inArtifact)
	d := l.d
	d.Environments = keep(d.Environments, func(e *Environment) bool { return !l.inArtifact(e.src.pos.File) })
	d.Apps = keep(d.Apps, func(a *App) bool { return !l.inArtifact(a.src.pos.File) })
	d.Releases = keep(d.Releases, func(r *Release) bool { return !l.inArtifact(r.src.pos.File) })
}

func keep[T any](xs []T, ok func(T) bool) []T {
	out := xs[:0]
	for _, x := range xs {
		if ok(x) {
			out = append(out, x)
		}
	}
	return out
}

func addProblems(file string, ps []strictyaml.Problem, errs *errorList) {
	for _, p := range ps {
		errs.addMsg(Pos{file, p.Line}, p.Msg)
	}
}

// decodeStrict decodes a document into out, reporting unknown fields and
// type errors, each at its line.
func decodeStrict(file string, root *yaml.Node, out any, errs *errorList) (lines map[string]int, ok bool) {
	lines, problems := strictyaml.Decode(root, out)
	addProblems(file, problems, errs)
	return lines, len(problems) == 0
}
