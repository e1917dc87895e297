package spec

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// document is one YAML document of a file, parsed but not yet decoded.
type document struct {
	file string
	node *yaml.Node // the document's root mapping
	kind string
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

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
			addYAMLError(f.Path, err, errs)
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
			errs.add(Pos{f.Path, root.Line}, "a document must be a mapping with a kind, not a %s", nodeKind(root))
			continue
		}
		kind := ""
		if v := mapValue(root, "kind"); v != nil {
			kind = v.Value
		}
		docs = append(docs, document{file: f.Path, node: root, kind: kind})
	}
}

// addYAMLError turns a yaml.v3 error into file:line errors.
func addYAMLError(file string, err error, errs *errorList) {
	var te *yaml.TypeError
	msgs := []string{err.Error()}
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	for _, m := range msgs {
		if sub := yamlLine.FindStringSubmatch(m); sub != nil {
			line, _ := strconv.Atoi(sub[1])
			errs.add(Pos{file, line}, "%s", sub[2])
			continue
		}
		errs.add(Pos{File: file}, "%s", strings.TrimPrefix(m, "yaml: "))
	}
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "list"
	case yaml.MappingNode:
		return "mapping"
	case yaml.AliasNode:
		return "alias"
	}
	return "scalar"
}

func mapValue(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

var durationType = reflect.TypeOf(time.Duration(0))

// decodeStrict decodes the document into out (a pointer to a struct),
// reporting unknown fields and type errors, each at its line. It returns the
// line of every field it saw, by dotted path ("servers.0.name").
func decodeStrict(d document, out any, errs *errorList) (lines map[string]int, ok bool) {
	lines = map[string]int{}
	before := len(errs.errs)
	checkFields(d, d.node, reflect.TypeOf(out).Elem(), "", lines, errs)
	if err := d.node.Decode(out); err != nil {
		addYAMLError(d.file, err, errs)
	}
	return lines, len(errs.errs) == before
}

// checkFields walks node alongside the Go type t and reports mapping keys
// that t does not have.
func checkFields(d document, n *yaml.Node, t reflect.Type, path string, lines map[string]int, errs *errorList) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode || t == durationType {
			return // the decoder reports the type mismatch
		}
		fields := structFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := joinPath(path, k.Value)
			lines[p] = k.Line
			f, ok := fields[k.Value]
			if !ok {
				errs.add(Pos{d.file, k.Line}, "unknown field %q%s (known: %s)", k.Value, in(path), strings.Join(sortedKeys(fields), ", "))
				continue
			}
			checkFields(d, v, f, p, lines, errs)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return
		}
		for i, item := range n.Content {
			p := joinPath(path, strconv.Itoa(i))
			lines[p] = item.Line
			checkFields(d, item, t.Elem(), p, lines, errs)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := joinPath(path, n.Content[i].Value)
			lines[p] = n.Content[i].Line
			checkFields(d, n.Content[i+1], t.Elem(), p, lines, errs)
		}
	}
}

func in(path string) string {
	if path == "" {
		return ""
	}
	return " in " + path
}

func joinPath(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

// structFields maps a struct's YAML keys to their types.
func structFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

func sortedKeys(m map[string]reflect.Type) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		if k != "kind" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}
