package discovery

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/gitfleet/gitfleet/internal/strictyaml"
	"go.yaml.in/yaml/v3"
)

// Rejection is one entry of a source's answer that was left out, and why;
// the other entries stay.
type Rejection struct {
	// Origin is the source and the entry's position in its answer:
	// "file /etc/inv.yaml:12 [3]", "command /usr/bin/inv [3]",
	// "dns SRV _ssh._tcp.example.com [3]", "etcd /inv/prod/web-1".
	Origin string `json:"origin"`
	// Name is the entry's server name, when it could be read.
	Name string `json:"name,omitempty"`
	// Reason says what is wrong; for a duplicate it names the other
	// entry and where it is.
	Reason string `json:"reason"`
}

func (r Rejection) Error() string { return r.Origin + ": " + r.Reason }

// answer is what one read of a source found.
type answer struct {
	servers  []Server
	rejected []Rejection
}

// fieldError is a problem of one field of an entry.
type fieldError struct {
	field string // "address", "groups.1"; "" for the whole entry
	msg   string
}

func (e *fieldError) Error() string {
	if e.field == "" {
		return e.msg
	}
	return e.field + ": " + e.msg
}

// add validates s and appends it, or a rejection, to the answer; origin is
// where the entry is, seen the origins of the names added before.
func (a *answer) add(s Server, kind, origin string, seen map[string]string) {
	s.Source, s.Origin = kind, origin
	if err := s.check(); err != nil {
		a.reject(origin, s.Name, fmt.Sprintf("server %q: %v", clip(s.Name), err))
		return
	}
	if first, dup := seen[s.Name]; dup {
		a.reject(origin, s.Name, fmt.Sprintf("duplicate server %q (first at %s)", s.Name, first))
		return
	}
	seen[s.Name] = origin
	a.servers = append(a.servers, s)
}

// maxRejections bounds the rejections kept of one answer; the rest are
// counted in the last one.
const maxRejections = 100

func (a *answer) reject(origin, name, reason string) {
	switch n := len(a.rejected); {
	case n < maxRejections:
		a.rejected = append(a.rejected, Rejection{Origin: origin, Name: name, Reason: clipMsg(reason)})
	case n == maxRejections:
		a.rejected = append(a.rejected, Rejection{Origin: origin, Reason: "and more entries rejected (the first 100 are reported)"})
	}
}

// maxMessage bounds one message.
const maxMessage = 1000

func clipMsg(s string) string { return strictyaml.Clip(s, maxMessage) }

// parseYAML reads a list of servers in YAML or JSON (JSON is YAML), each
// rejection at the file's line. name is the file's path, for origins.
func parseYAML(data []byte, name string, max int) (answer, error) {
	var a answer
	if len(bytes.TrimSpace(data)) == 0 {
		return a, errors.New("the file is empty: want a list of servers ([] for none)")
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return a, errors.New("the file holds no list: want a list of servers ([] for none)")
	} else if err != nil {
		return a, yamlError(name, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return a, fmt.Errorf("%s: more than one YAML document: want one list of servers", name)
	}
	if len(doc.Content) == 0 {
		return a, errors.New("the file holds no list: want a list of servers ([] for none)")
	}
	root := doc.Content[0]
	if root.Kind != yaml.SequenceNode {
		return a, fmt.Errorf("%s:%d: a %s: want a list of servers", name, root.Line, strictyaml.KindName(root))
	}
	if len(root.Content) > max {
		return a, fmt.Errorf("%s: %d servers, more than maxServers (%d)", name, len(root.Content), max)
	}
	if _, ok := strictyaml.ExpandedSize(root, MaxFileBytes); !ok {
		return a, fmt.Errorf("%s: aliases expand the list to more than %d bytes", name, MaxFileBytes)
	}
	seen := map[string]string{}
	for i, item := range root.Content {
		origin := fmt.Sprintf("file %s:%d [%d]", name, item.Line, i)
		if item.Kind != yaml.MappingNode {
			a.reject(origin, "", fmt.Sprintf("a %s: want a mapping {name, address, groups, site, labels}", strictyaml.KindName(item)))
			continue
		}
		var e entry
		lines, problems := strictyaml.Decode(item, &e)
		if len(problems) > 0 {
			p := problems[0]
			at := origin
			if p.Line > 0 && p.Line != item.Line {
				at = fmt.Sprintf("file %s:%d [%d]", name, p.Line, i)
			}
			a.reject(at, nameOf(item), p.Msg)
			continue
		}
		s := e.server()
		if err := s.check(); err != nil {
			var fe *fieldError
			if errors.As(err, &fe) && fe.field != "" {
				if l := strictyaml.Line(lines, fe.field); l > 0 {
					origin = fmt.Sprintf("file %s:%d [%d]", name, l, i)
				}
			}
		}
		a.add(s, KindFile, origin, seen)
	}
	return a, nil
}

// nameOf is the name of an entry that may not decode.
func nameOf(item *yaml.Node) string {
	if v := strictyaml.MapValue(item, "name"); v != nil && v.Kind == yaml.ScalarNode && serverRE.MatchString(v.Value) {
		return v.Value
	}
	return ""
}

func yamlError(name string, err error) error {
	ps := strictyaml.Problems(err)
	if len(ps) == 0 {
		return fmt.Errorf("%s: %w", name, err)
	}
	if ps[0].Line > 0 {
		return fmt.Errorf("%s:%d: %s", name, ps[0].Line, ps[0].Msg)
	}
	return fmt.Errorf("%s: %s", name, ps[0].Msg)
}

// parseJSON reads a JSON list of servers, each rejection at its index;
// origin names the source ("command /usr/bin/inv").
func parseJSON(data []byte, kind, origin string, max int) (answer, error) {
	var a answer
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return a, errors.New("no output: want a JSON list of servers ([] for none)")
	}
	if trimmed[0] != '[' {
		return a, fmt.Errorf("the output starts with %q: want a JSON list of servers", clip(string(trimmed[:min(len(trimmed), 20)])))
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	var items []json.RawMessage
	if err := dec.Decode(&items); err != nil {
		return a, fmt.Errorf("invalid JSON: %v", err)
	}
	if dec.More() {
		return a, errors.New("invalid JSON: data after the list")
	}
	if len(items) > max {
		return a, fmt.Errorf("%d servers, more than maxServers (%d)", len(items), max)
	}
	seen := map[string]string{}
	for i, raw := range items {
		at := origin + " [" + strconv.Itoa(i) + "]"
		s, err := decodeEntry(raw)
		if err != nil {
			a.reject(at, s.Name, err.Error())
			continue
		}
		a.add(s, kind, at, seen)
	}
	return a, nil
}

// decodeEntry decodes one JSON server strictly; on error the server holds
// the name if it could be read.
func decodeEntry(raw []byte) (Server, error) {
	var e entry
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		var loose struct {
			Name string `json:"name"`
		}
		if json.Unmarshal(raw, &loose) == nil && serverRE.MatchString(loose.Name) {
			e.Name = loose.Name
		}
		msg := strings.TrimPrefix(err.Error(), "json: ")
		switch {
		case !json.Valid(raw):
			return Server{}, fmt.Errorf("invalid JSON: %s", msg)
		case bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")):
			return Server{Name: e.Name}, fmt.Errorf("%s (want {name, address, groups, site, labels})", msg)
		}
		return Server{Name: e.Name}, fmt.Errorf("want an object {name, address, groups, site, labels}, not %q", clip(string(raw)))
	}
	return e.server(), nil
}
