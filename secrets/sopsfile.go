package secrets

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// sopsFile is a parsed SOPS file: its content without the metadata, and
// the metadata.
type sopsFile struct {
	format Format
	doc    *node
	meta   *metadata
}

// The key SOPS keeps its metadata under, and the prefix of the metadata
// keys of a dotenv file.
const (
	metadataKey    = "sops"
	metadataPrefix = "sops_"
)

// parseSOPS parses a SOPS file of the given (resolved) format. A file
// without metadata is ErrNotEncrypted, or ErrMalformed when it holds
// encrypted values (metadata cut off).
func parseSOPS(path string, data []byte, f Format) (*sopsFile, error) {
	var docs []*node
	var err error
	switch f {
	case FormatYAML:
		docs, err = parseYAML(data, MaxFileBytes)
	case FormatJSON, FormatBinary:
		var n *node
		n, err = parseJSON(data)
		docs = []*node{n}
	case FormatDotenv:
		var n *node
		n, err = parseDotenv(data)
		docs = []*node{n}
	default:
		return nil, fail(path, ErrUnsupported, "not a SOPS format: %s", f)
	}
	if err != nil {
		return nil, fail(path, ErrMalformed, "not well-formed: %v", err)
	}
	if len(docs) == 0 {
		return nil, fail(path, ErrNotEncrypted, "is empty")
	}
	raw, doc := extractMetadata(docs[0], f)
	if raw == nil {
		if hasEncrypted(doc) {
			return nil, fail(path, ErrMalformed, "has encrypted values but no sops metadata: truncated?")
		}
		return nil, fail(path, ErrNotEncrypted, "has no sops metadata: it is not encrypted (refusing a secret in plaintext)")
	}
	sf := &sopsFile{format: f, doc: doc}
	if sf.meta, err = parseMetadata(raw); err != nil {
		kind := ErrMalformed
		if errors.Is(err, errUnsupportedComments) {
			kind = ErrUnsupported
		}
		return nil, fail(path, kind, "sops metadata: %v", err)
	}
	if len(docs) > 1 {
		return nil, &Error{File: path, Kind: ErrUnsupported, Recipients: sf.meta.recipients(),
			Reason: fmt.Sprintf("holds %d YAML documents; a secrets file holds one", len(docs))}
	}
	if sf.meta.ageKeys() == 0 {
		reason := "has no age recipient"
		if len(sf.meta.other) > 0 {
			reason += fmt.Sprintf(" (only %s, which gitfleet does not use: it decrypts with age keys only)", strings.Join(sf.meta.other, ", "))
		}
		return nil, fail(path, ErrUnsupported, "%s", reason)
	}
	if f == FormatBinary {
		if d := doc.get("data"); d == nil || d.kind != leafNode || len(doc.keys) != 1 {
			return nil, &Error{File: path, Kind: ErrMalformed, Recipients: sf.meta.recipients(),
				Reason: `is not a SOPS binary file (one "data" value): give its format (yaml, json, dotenv) if it is structured`}
		}
	}
	return sf, nil
}

// extractMetadata splits the metadata from the content: the "sops"
// mapping, or the "sops_" keys of a dotenv file. raw is nil when there
// is none.
func extractMetadata(doc *node, f Format) (raw map[string]any, rest *node) {
	if f != FormatDotenv {
		m := doc.get(metadataKey)
		if m == nil || m.kind != mapNode {
			return nil, doc
		}
		return toGo(m).(map[string]any), doc.without(metadataKey)
	}
	flat := map[string]string{}
	rest = newMap()
	for i, k := range doc.keys {
		if strings.HasPrefix(k, metadataPrefix) {
			s, _ := doc.kids[i].leaf.(string)
			flat[k[len(metadataPrefix):]] = s
			continue
		}
		rest.add(k, doc.kids[i])
	}
	if len(flat) == 0 {
		return nil, doc
	}
	return unflatten(flat), rest
}

// hasEncrypted reports whether any value looks encrypted by SOPS.
func hasEncrypted(n *node) bool {
	found := false
	walk(n, nil, "", 0, func(leaf any, _ []string, _ string, _ int) (*node, error) {
		if s, ok := leaf.(string); ok && strings.HasPrefix(s, "ENC[AES256_GCM,") {
			found = true
		}
		return nil, nil
	})
	return found
}

// The separators of flattened metadata keys (sops: stores/flatten.go):
// age__list_0__map_recipient is age[0].recipient.
const (
	mapSep  = "__map_"
	listSep = "__list_"
)

// flatNode builds the unflattened metadata.
type flatNode struct {
	value *string
	keys  map[string]*flatNode
	items map[int]*flatNode
}

// unflatten rebuilds the metadata of a dotenv file from its flattened
// keys. Conflicting keys keep what can be read; parseMetadata then says
// what is missing.
func unflatten(flat map[string]string) map[string]any {
	root := &flatNode{}
	for k, v := range flat {
		n := root
		for _, t := range tokens(k) {
			if i, err := strconv.Atoi(strings.TrimPrefix(t, listSep)); strings.HasPrefix(t, listSep) && err == nil {
				if n.items == nil {
					n.items = map[int]*flatNode{}
				}
				if n.items[i] == nil {
					n.items[i] = &flatNode{}
				}
				n = n.items[i]
				continue
			}
			if n.keys == nil {
				n.keys = map[string]*flatNode{}
			}
			t = strings.TrimPrefix(t, mapSep)
			if n.keys[t] == nil {
				n.keys[t] = &flatNode{}
			}
			n = n.keys[t]
		}
		v := v
		n.value = &v
	}
	m, _ := root.build().(map[string]any)
	return m
}

// build converts a flatNode to maps, lists and strings.
func (n *flatNode) build() any {
	switch {
	case n.keys != nil:
		m := map[string]any{}
		for k, c := range n.keys {
			m[k] = c.build()
		}
		return m
	case n.items != nil:
		idx := make([]int, 0, len(n.items))
		for i := range n.items {
			if i >= 0 && i < math.MaxInt16 {
				idx = append(idx, i)
			}
		}
		sort.Ints(idx)
		l := make([]any, 0, len(idx))
		for _, i := range idx {
			l = append(l, n.items[i].build())
		}
		return l
	case n.value != nil:
		return *n.value
	}
	return nil
}

// tokens splits a flattened key before each separator, keeping the
// separators: "age__list_0__map_enc" is "age", "__list_0", "__map_enc".
func tokens(k string) []string {
	var out []string
	start := 0
	for i := 0; i < len(k); i++ {
		if i > start && (strings.HasPrefix(k[i:], mapSep) || strings.HasPrefix(k[i:], listSep)) {
			out = append(out, k[start:i])
			start = i
		}
	}
	return append(out, k[start:])
}
