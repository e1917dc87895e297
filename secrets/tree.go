package secrets

import (
	"fmt"
	"strconv"
	"time"
)

// node is a file's content as SOPS sees it: mappings keep their order,
// lists their items, leaves are string, int, float64, bool, time.Time or
// []byte. Comments are not kept: SOPS leaves them out of the MAC.
type node struct {
	kind nodeKind
	keys []string // mapNode: the keys, in file order
	kids []*node  // mapNode: the values of keys; listNode: the items
	leaf any      // leafNode
	line int      // the line in the file, where known
}

type nodeKind uint8

const (
	nullNode nodeKind = iota
	mapNode
	listNode
	leafNode
)

// maxDepth bounds how deep mappings and lists nest: the walks recurse.
const maxDepth = 200

func newMap() *node { return &node{kind: mapNode} }

func (n *node) add(key string, v *node) {
	n.keys = append(n.keys, key)
	n.kids = append(n.kids, v)
}

// get returns the value of key in a mapping, or nil.
func (n *node) get(key string) *node {
	if n == nil || n.kind != mapNode {
		return nil
	}
	for i, k := range n.keys {
		if k == key {
			return n.kids[i]
		}
	}
	return nil
}

// without returns the mapping without key.
func (n *node) without(key string) *node {
	out := &node{kind: mapNode, line: n.line}
	for i, k := range n.keys {
		if k != key {
			out.add(k, n.kids[i])
		}
	}
	return out
}

// leafFunc maps a leaf: sopsPath is the path SOPS authenticates a value
// with and matches its rules against (mapping keys only, list indexes
// left out), name the path a person reads ("db.hosts.0"). A nil result
// drops the leaf.
type leafFunc func(leaf any, sopsPath []string, name string, line int) (*node, error)

// walk returns a copy of n with every leaf mapped by fn, in file order
// (the order of SOPS's MAC). Null values are kept and not visited, as
// SOPS does.
func walk(n *node, sopsPath []string, name string, depth int, fn leafFunc) (*node, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("nested more than %d levels deep", maxDepth)
	}
	switch n.kind {
	case mapNode:
		out := &node{kind: mapNode, line: n.line}
		for i, k := range n.keys {
			v, err := walk(n.kids[i], append(sopsPath[:len(sopsPath):len(sopsPath)], k), join(name, k), depth+1, fn)
			if err != nil {
				return nil, err
			}
			if v != nil {
				out.add(k, v)
			}
		}
		return out, nil
	case listNode:
		out := &node{kind: listNode, line: n.line}
		for i, c := range n.kids {
			v, err := walk(c, sopsPath, join(name, strconv.Itoa(i)), depth+1, fn)
			if err != nil {
				return nil, err
			}
			if v != nil {
				out.kids = append(out.kids, v)
			}
		}
		return out, nil
	case leafNode:
		return fn(n.leaf, sopsPath, name, n.line)
	}
	return n, nil
}

// join builds a flattened name: keys and list indexes joined by dots.
func join(name, part string) string {
	if name == "" {
		return part
	}
	return name + "." + part
}

// leafText is a decrypted leaf as templates and environment files get
// it: strings as they are, numbers in decimal, booleans as true or false,
// times in RFC 3339.
func leafText(v any) []byte {
	switch v := v.(type) {
	case string:
		return []byte(v)
	case []byte:
		return v
	case bool:
		return []byte(strconv.FormatBool(v))
	case time.Time:
		b, _ := v.MarshalText()
		return b
	}
	b, _ := macBytes(v)
	return b
}

// macBytes is a leaf as SOPS hashes it into the MAC (sops.ToBytes).
func macBytes(v any) ([]byte, error) {
	switch v := v.(type) {
	case string:
		return []byte(v), nil
	case []byte:
		return v, nil
	case int:
		return []byte(strconv.Itoa(v)), nil
	case float64:
		return []byte(strconv.FormatFloat(v, 'f', -1, 64)), nil
	case bool:
		if v {
			return []byte("True"), nil
		}
		return []byte("False"), nil
	case time.Time:
		return v.MarshalText()
	}
	return nil, fmt.Errorf("a value of type %T", v)
}

// plainData converts a decrypted tree for text/template: mappings become
// map[string]any, lists []any, leaves strings (leafText).
func plainData(n *node) any {
	switch n.kind {
	case mapNode:
		m := make(map[string]any, len(n.keys))
		for i, k := range n.keys {
			m[k] = plainData(n.kids[i])
		}
		return m
	case listNode:
		l := make([]any, len(n.kids))
		for i, c := range n.kids {
			l[i] = plainData(c)
		}
		return l
	case leafNode:
		return string(leafText(n.leaf))
	}
	return nil
}

// checkNames refuses a mapping whose flattened names collide ("a.b" as a
// key next to a: {b: ...}), since Lookup could not tell them apart.
func checkNames(names []string) error {
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if seen[n] {
			return fmt.Errorf("two values have the name %s (a key holds a dot?)", nameText(n))
		}
		seen[n] = true
	}
	return nil
}
