// Package strictyaml decodes YAML into Go structs the strict way: every
// unknown field and every type error is reported, each with its line, and the
// line of every field seen is returned so later validation can point at it.
package strictyaml

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Problem is one error at a line (0 when yaml.v3 did not say).
type Problem struct {
	Line int
	Msg  string
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// parserErrors are the messages of yaml.v3's parser (not its scanner or
// decoder). yaml.v3 reports their line 0-based (go-yaml/yaml#205 and
// friends): Problems adds the missing 1.
var parserErrors = map[string]bool{
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected '-' indicator":    true,
	"did not find expected <document start>": true,
	"did not find expected <stream-start>":   true,
	"did not find expected key":              true,
	"did not find expected node content":     true,
	"found duplicate %TAG directive":         true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found undefined tag handle":             true,
}

// Problems turns a yaml.v3 error into line-numbered problems.
func Problems(err error) []Problem {
	var te *yaml.TypeError
	msgs := []string{err.Error()}
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	var out []Problem
	for _, m := range msgs {
		line, msg := 0, strings.TrimPrefix(m, "yaml: ")
		if sub := yamlLine.FindStringSubmatch(m); sub != nil {
			line, _ = strconv.Atoi(sub[1])
			msg = sub[2]
		}
		if te == nil && parserErrors[msg] {
			line++
		}
		out = append(out, Problem{line, Clip(msg, maxMessage)})
	}
	return out
}

// maxMessage bounds a problem's message: yaml.v3 quotes keys in some.
const maxMessage = 1000

// Clip cuts s to at most n bytes (at a character boundary) and says how
// long it was, so that an error can quote a value of any size.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d bytes)", s[:cut], len(s))
}

// Decode decodes node into out (a pointer to a struct), reporting unknown
// fields and type errors. Lines maps fields seen, by dotted path
// ("servers.0.name"), to their lines: every field of the first two levels
// ("loadBalancer.drain"), so that lines also says which of them are set,
// and deeper ones where their line differs from their parent's; Line
// finds the line of any field.
func Decode(node *yaml.Node, out any) (lines map[string]int, problems []Problem) {
	lines = map[string]int{}
	w := &walker{lines: lines, problems: &problems}
	w.checkFields(node, reflect.TypeOf(out).Elem(), "", 0, node.Line)
	if err := node.Decode(out); err != nil {
		problems = append(problems, Problems(err)...)
	}
	return lines, problems
}

// MapValue returns the value of key in a mapping node, or nil.
func MapValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// KindName names a node's kind for error messages.
func KindName(n *yaml.Node) string {
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

var durationType = reflect.TypeOf(time.Duration(0))

// Line is the line of field in lines as Decode filled it: its own, or its
// nearest parent's; 0 when neither was seen.
func Line(lines map[string]int, field string) int {
	for f := field; f != ""; {
		if l, ok := lines[f]; ok {
			return l
		}
		i := strings.LastIndexByte(f, '.')
		if i < 0 {
			break
		}
		f = f[:i]
	}
	return 0
}

// walker records lines and problems while checkFields walks a document.
type walker struct {
	lines    map[string]int
	problems *[]Problem
}

// note records the line of path at depth (0 for top-level fields) unless
// its parent's line says the same.
func (w *walker) note(path string, depth, line, parentLine int) {
	if depth < 2 || line != parentLine {
		w.lines[path] = line
	}
}

// checkFields walks n alongside the Go type t and reports mapping keys that t
// does not have. Type mismatches are left to the decoder, which reports them.
func (w *walker) checkFields(n *yaml.Node, t reflect.Type, path string, depth, line int) {
	problems := w.problems
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode || t == durationType {
			return
		}
		fields := structFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := join(path, k.Value)
			w.note(p, depth, k.Line, line)
			f, ok := fields[k.Value]
			if !ok {
				where := ""
				if path != "" {
					where = " in " + Clip(path, 200)
				}
				*problems = append(*problems, Problem{k.Line, fmt.Sprintf("unknown field %q%s (known: %s)", Clip(k.Value, 100), where, strings.Join(known(fields), ", "))})
				continue
			}
			w.checkFields(v, f, p, depth+1, k.Line)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return
		}
		for i, item := range n.Content {
			p := join(path, strconv.Itoa(i))
			w.note(p, depth, item.Line, line)
			w.checkFields(item, t.Elem(), p, depth+1, item.Line)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := join(path, n.Content[i].Value)
			w.note(p, depth, n.Content[i].Line, line)
			w.checkFields(n.Content[i+1], t.Elem(), p, depth+1, n.Content[i].Line)
		}
	}
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

// fieldCache holds structFields' answer for every type seen: a
// reflect.Type's fields never change.
var fieldCache sync.Map // reflect.Type -> map[string]reflect.Type

// structFields maps a struct's YAML keys to their types.
func structFields(t reflect.Type) map[string]reflect.Type {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]reflect.Type)
	}
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
	fieldCache.Store(t, out)
	return out
}

func known(m map[string]reflect.Type) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		if k != "kind" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}
