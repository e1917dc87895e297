package secrets

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/gitfleet/gitfleet/internal/strictyaml"
	"go.yaml.in/yaml/v3"
)

// The parsers read a file the way the sops stores of the same format do,
// so that the MAC is computed over the same values in the same order.
// Their errors say where (line, byte offset) and never quote content.

var yamlLineRE = regexp.MustCompile(`line (\d+)`)

// parseYAML reads every document of a YAML file; each must be a mapping
// (or empty). Aliases are expanded, as SOPS does, after their expanded
// size has been bounded by max.
func parseYAML(data []byte, max int64) ([]*node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*node
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
				return nil, fmt.Errorf("YAML syntax error at line %s (truncated or damaged?)", m[1])
			}
			return nil, errors.New("YAML syntax error (truncated or damaged?)")
		}
		if _, ok := strictyaml.ExpandedSize(&doc, max); !ok {
			return nil, fmt.Errorf("YAML document at line %d expands (aliases) to more than %d bytes", doc.Line, max)
		}
		var root *yaml.Node
		if len(doc.Content) > 0 {
			root = doc.Content[0]
		}
		for root != nil && root.Kind == yaml.AliasNode {
			root = root.Alias
		}
		switch {
		case root == nil || (root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null"):
			docs = append(docs, newMap())
		case root.Kind != yaml.MappingNode:
			return nil, fmt.Errorf("YAML document at line %d is not a mapping", doc.Line)
		default:
			n, err := yamlTree(root, 0)
			if err != nil {
				return nil, err
			}
			docs = append(docs, n)
		}
	}
}

// yamlTree converts a YAML node (sops: nodeToTreeValue).
func yamlTree(y *yaml.Node, depth int) (*node, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("YAML nested more than %d levels deep at line %d", maxDepth, y.Line)
	}
	switch y.Kind {
	case yaml.AliasNode:
		if y.Alias == nil {
			return nil, fmt.Errorf("YAML alias without anchor at line %d", y.Line)
		}
		return yamlTree(y.Alias, depth+1)
	case yaml.MappingNode:
		n := &node{kind: mapNode, line: y.Line}
		seen := map[string]bool{}
		for i := 0; i+1 < len(y.Content); i += 2 {
			var k any
			if err := y.Content[i].Decode(&k); err != nil {
				return nil, fmt.Errorf("YAML key at line %d cannot be read", y.Content[i].Line)
			}
			key, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("YAML key at line %d is a %T; SOPS keys are strings", y.Content[i].Line, k)
			}
			if seen[key] {
				return nil, fmt.Errorf("YAML key %s at line %d is defined twice", nameText(key), y.Content[i].Line)
			}
			seen[key] = true
			v, err := yamlTree(y.Content[i+1], depth+1)
			if err != nil {
				return nil, err
			}
			n.add(key, v)
		}
		return n, nil
	case yaml.SequenceNode:
		n := &node{kind: listNode, line: y.Line}
		for _, c := range y.Content {
			v, err := yamlTree(c, depth+1)
			if err != nil {
				return nil, err
			}
			n.kids = append(n.kids, v)
		}
		return n, nil
	case yaml.ScalarNode:
		var v any
		if err := y.Decode(&v); err != nil {
			return nil, fmt.Errorf("YAML value at line %d cannot be read (tag %s)", y.Line, clip(y.ShortTag(), 40))
		}
		switch v.(type) {
		case nil:
			return &node{kind: nullNode, line: y.Line}, nil
		case string, int, float64, bool:
		default:
			if _, err := macBytes(v); err != nil {
				return nil, fmt.Errorf("YAML value at line %d is %s, which SOPS cannot hold", y.Line, err)
			}
		}
		return &node{kind: leafNode, leaf: v, line: y.Line}, nil
	}
	return nil, fmt.Errorf("YAML node of kind %d at line %d", y.Kind, y.Line)
}

// parseJSON reads a JSON object (sops: the JSON store, with numbers as
// int when they fit and float64 otherwise).
func parseJSON(data []byte) (*node, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	t, err := dec.Token()
	if err != nil {
		return nil, jsonError(err, dec)
	}
	if d, ok := t.(json.Delim); !ok || d != '{' {
		return nil, errors.New("JSON file is not an object ('{' ... '}')")
	}
	return jsonObject(dec, 0)
}

func jsonObject(dec *json.Decoder, depth int) (*node, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("JSON nested more than %d levels deep", maxDepth)
	}
	n := newMap()
	seen := map[string]bool{}
	for {
		t, err := dec.Token()
		if err != nil {
			return nil, jsonError(err, dec)
		}
		if d, ok := t.(json.Delim); ok && d == '}' {
			return n, nil
		}
		key, ok := t.(string)
		if !ok {
			return nil, fmt.Errorf("JSON object key expected at byte %d", dec.InputOffset())
		}
		if seen[key] {
			return nil, fmt.Errorf("JSON key %s is defined twice (byte %d)", nameText(key), dec.InputOffset())
		}
		seen[key] = true
		v, err := jsonValue(dec, depth)
		if err != nil {
			return nil, err
		}
		n.add(key, v)
	}
}

func jsonValue(dec *json.Decoder, depth int) (*node, error) {
	t, err := dec.Token()
	if err != nil {
		return nil, jsonError(err, dec)
	}
	switch t := t.(type) {
	case json.Delim:
		if t == '{' {
			return jsonObject(dec, depth+1)
		}
		if t != '[' {
			return nil, fmt.Errorf("JSON syntax error at byte %d", dec.InputOffset())
		}
		if depth > maxDepth {
			return nil, fmt.Errorf("JSON nested more than %d levels deep", maxDepth)
		}
		n := &node{kind: listNode}
		for dec.More() {
			v, err := jsonValue(dec, depth+1)
			if err != nil {
				return nil, err
			}
			n.kids = append(n.kids, v)
		}
		if _, err := dec.Token(); err != nil {
			return nil, jsonError(err, dec)
		}
		return n, nil
	case nil:
		return &node{kind: nullNode}, nil
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return &node{kind: leafNode, leaf: int(i)}, nil
		}
		f, err := t.Float64()
		if err != nil {
			return nil, fmt.Errorf("JSON number out of range at byte %d", dec.InputOffset())
		}
		return &node{kind: leafNode, leaf: f}, nil
	default: // string, bool
		return &node{kind: leafNode, leaf: t}, nil
	}
}

// jsonError says where a JSON file is broken, without quoting it.
func jsonError(err error, dec *json.Decoder) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("JSON ends early, at byte %d (truncated?)", dec.InputOffset())
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("JSON syntax error at byte %d", se.Offset)
	}
	return fmt.Errorf("JSON syntax error at byte %d", dec.InputOffset())
}

// parseDotenv reads KEY=value lines (sops: the dotenv store): empty lines
// are skipped, '#' lines are comments, "\n" in a value is a newline.
func parseDotenv(data []byte) (*node, error) {
	n := newMap()
	seen := map[string]bool{}
	for i, line := range bytes.Split(data, []byte("\n")) {
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		eq := bytes.IndexByte(line, '=')
		if eq < 0 {
			return nil, fmt.Errorf("dotenv line %d has no '='", i+1)
		}
		key := string(line[:eq])
		if seen[key] {
			return nil, fmt.Errorf("dotenv key %s at line %d is defined twice", nameText(key), i+1)
		}
		seen[key] = true
		value := strings.ReplaceAll(string(line[eq+1:]), `\n`, "\n")
		n.add(key, &node{kind: leafNode, leaf: value, line: i + 1})
	}
	return n, nil
}
