package strictyaml

import "go.yaml.in/yaml/v3"

// ExpandedSize measures a document as if every alias were replaced by
// the node it names: the bytes of every scalar plus one per node, which
// is at most the length of the YAML text when there is no alias. It stops
// counting past limit and then reports false. Each anchored node is
// measured once, so the cost is linear in the document as written, not
// in its expansion: an alias bomb is measured as cheaply as it is parsed.
func ExpandedSize(n *yaml.Node, limit int64) (int64, bool) {
	m := &measure{limit: limit, anchored: map[*yaml.Node]int64{}}
	size := m.size(n)
	return size, size <= limit
}

type measure struct {
	limit    int64
	anchored map[*yaml.Node]int64
}

// size returns n's expanded size, or limit+1 once it exceeds limit.
func (m *measure) size(n *yaml.Node) int64 {
	if n == nil {
		return 0
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return 1
		}
		return m.capped(1 + m.size(n.Alias))
	}
	if n.Anchor != "" {
		if s, ok := m.anchored[n]; ok {
			return s
		}
	}
	s := int64(len(n.Value)) + 1
	for _, c := range n.Content {
		s = m.capped(s + m.size(c))
		if s > m.limit {
			break
		}
	}
	if n.Anchor != "" {
		m.anchored[n] = s
	}
	return s
}

func (m *measure) capped(s int64) int64 {
	if s > m.limit {
		return m.limit + 1
	}
	return s
}
