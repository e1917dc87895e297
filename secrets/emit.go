package secrets

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The emitters write a tree (plaintext, or encrypted with its metadata)
// the way the sops stores of the format do, so that sops reads them.

// emitYAML writes a mapping, with meta as the "sops" entry when not nil.
func emitYAML(doc, meta *node) ([]byte, error) {
	root := yamlNode(doc)
	if meta != nil {
		root.Content = append(root.Content, scalar(metadataKey), yamlNode(meta))
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(4)
	if err := enc.Encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{root}}); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func scalar(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

func yamlNode(n *node) *yaml.Node {
	switch n.kind {
	case mapNode:
		y := &yaml.Node{Kind: yaml.MappingNode}
		for i, k := range n.keys {
			y.Content = append(y.Content, scalar(k), yamlNode(n.kids[i]))
		}
		return y
	case listNode:
		y := &yaml.Node{Kind: yaml.SequenceNode}
		for _, c := range n.kids {
			y.Content = append(y.Content, yamlNode(c))
		}
		return y
	case leafNode:
		if s, ok := n.leaf.(string); ok {
			return scalar(s)
		}
		var y yaml.Node
		if err := y.Encode(n.leaf); err == nil {
			return &y
		}
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
}

// emitJSON writes an object, with meta as the "sops" entry when not nil,
// keeping the order of keys.
func emitJSON(doc, meta *node) ([]byte, error) {
	if meta != nil {
		withMeta := &node{kind: mapNode, keys: append(doc.keys[:len(doc.keys):len(doc.keys)], metadataKey), kids: append(doc.kids[:len(doc.kids):len(doc.kids)], meta)}
		doc = withMeta
	}
	var compact bytes.Buffer
	if err := writeJSON(&compact, doc); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, compact.Bytes(), "", "    "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

func writeJSON(b *bytes.Buffer, n *node) error {
	switch n.kind {
	case mapNode:
		b.WriteByte('{')
		for i, k := range n.keys {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := jsonScalar(b, k); err != nil {
				return err
			}
			b.WriteByte(':')
			if err := writeJSON(b, n.kids[i]); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	case listNode:
		b.WriteByte('[')
		for i, c := range n.kids {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeJSON(b, c); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case leafNode:
		return jsonScalar(b, n.leaf)
	default:
		b.WriteString("null")
	}
	return nil
}

func jsonScalar(b *bytes.Buffer, v any) error {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("a value of type %T", v)
	}
	b.Truncate(b.Len() - 1) // Encode's newline
	return nil
}

// emitDotenv writes KEY=value lines, with the metadata flattened into
// sops_ lines when meta is not nil. A newline in a value is written "\n".
func emitDotenv(doc, meta *node) ([]byte, error) {
	var b bytes.Buffer
	line := func(k string, v any) error {
		var s string
		switch v := v.(type) {
		case string:
			s = v
		default:
			s = string(leafText(v))
		}
		if strings.ContainsAny(k, "=\n") || k == "" || k[0] == '#' {
			return fmt.Errorf("key %s cannot be written to a dotenv file", nameText(k))
		}
		fmt.Fprintf(&b, "%s=%s\n", k, strings.ReplaceAll(s, "\n", `\n`))
		return nil
	}
	for i, k := range doc.keys {
		c := doc.kids[i]
		if c.kind == mapNode || c.kind == listNode {
			return nil, fmt.Errorf("value of %s is not a string: dotenv files are flat", nameText(k))
		}
		var v any = ""
		if c.kind == leafNode {
			v = c.leaf
		}
		if err := line(k, v); err != nil {
			return nil, err
		}
	}
	if meta != nil {
		flat := map[string]any{}
		flatten(meta, metadataPrefix[:len(metadataPrefix)-1], flat)
		keys := make([]string, 0, len(flat))
		for k := range flat {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if err := line(k, flat[k]); err != nil {
				return nil, err
			}
		}
	}
	return b.Bytes(), nil
}

// flatten writes the leaves of n under prefix with the separators of
// sops's flattened metadata: sops_age__list_0__map_enc.
func flatten(n *node, prefix string, out map[string]any) {
	switch n.kind {
	case mapNode:
		for i, k := range n.keys {
			sep := mapSep
			if prefix == "sops" {
				sep = "_"
			}
			flatten(n.kids[i], prefix+sep+k, out)
		}
	case listNode:
		for i, c := range n.kids {
			flatten(c, prefix+listSep+strconv.Itoa(i), out)
		}
	case leafNode:
		out[prefix] = n.leaf
	}
}
