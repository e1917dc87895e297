package spec

import (
	"bytes"
	"errors"
	"io"

	"github.com/gitfleet/gitfleet/internal/strictyaml"
	"go.yaml.in/yaml/v3"
)

// document is one YAML document of a file, parsed but not yet decoded.
type document struct {
	file string
	node *yaml.Node // the document's root mapping
	kind string
}

// parseFile splits a multi-document YAML file into its documents. Empty
// documents (a stray "---", comments only) are skipped.
func parseFile(f File, errs *errorList) []document {
	var docs []document
	dec := yaml.NewDecoder(bytes.NewReader(f.Data))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			addProblems(f.Path, strictyaml.Problems(err), errs)
			return docs
		}
		if len(n.Content) == 0 {
			continue
		}
		root := n.Content[0]
		if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
			continue
		}
		if root.Kind != yaml.MappingNode {
			errs.add(Pos{f.Path, root.Line}, "a document must be a mapping with a kind, not a %s", strictyaml.KindName(root))
			continue
		}
		kind := ""
		if v := strictyaml.MapValue(root, "kind"); v != nil {
			kind = v.Value
		}
		docs = append(docs, document{file: f.Path, node: root, kind: kind})
	}
}

func addProblems(file string, ps []strictyaml.Problem, errs *errorList) {
	for _, p := range ps {
		errs.add(Pos{file, p.Line}, "%s", p.Msg)
	}
}

// decodeStrict decodes the document into out, reporting unknown fields and
// type errors, each at its line.
func decodeStrict(d document, out any, errs *errorList) (lines map[string]int, ok bool) {
	lines, problems := strictyaml.Decode(d.node, out)
	addProblems(d.file, problems, errs)
	return lines, len(problems) == 0
}
