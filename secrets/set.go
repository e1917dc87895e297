package secrets

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Set is the secrets of one environment as its templates and variables
// see them: files by the name the Environment gives each. A value is
// referred to as NAME.VALUE ("db.password"), the content of a binary or
// age file as NAME; the values of a file added without a name are
// referred to, and seen by templates, at the top level ("db_password").
// A Set shows as "(secrets: N values)" to fmt. Once built, it may be read
// concurrently; Add and AddInfo must not run at the same time as anything
// else.
type Set struct {
	entries []setEntry
	taken   map[string]string // top-level template names, to what took them
	refs    []string
	values  map[string]Value
}

type setEntry struct {
	name string
	file *File // nil for an entry of Info (no keys)
	info *Info
}

// NewSet returns an empty Set.
func NewSet() *Set { return &Set{taken: map[string]string{}, values: map[string]Value{}} }

var secretNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Add adds a decrypted file under name, a template identifier
// ([A-Za-z_][A-Za-z0-9_]*), or under no name ("") for a structured file
// whose top-level keys are then names of their own. A name used twice is
// an error.
func (s *Set) Add(name string, f *File) error {
	var refs []string
	var whole bool
	if f.tree != nil {
		refs = f.names
	} else {
		whole = true
	}
	if err := s.claim(name, f.path, refs, whole); err != nil {
		return err
	}
	s.entries = append(s.entries, setEntry{name: name, file: f})
	if whole {
		s.addRef(name, f.whole)
		return nil
	}
	for _, n := range f.names {
		s.addRef(join(name, n), f.values[n])
	}
	return nil
}

// AddInfo adds what a file says without keys (see Add): templates then
// see "(secret)" for every value, so that they can be checked against the
// names that exist before any key is at hand.
func (s *Set) AddInfo(name string, i *Info) error {
	whole := i.shape == nil
	if err := s.claim(name, i.Path, i.Names, whole); err != nil {
		return err
	}
	s.entries = append(s.entries, setEntry{name: name, info: i})
	placeholder := newValue([]byte(Redacted))
	if whole {
		s.addRef(name, placeholder)
		return nil
	}
	for _, n := range i.Names {
		s.addRef(join(name, n), placeholder)
	}
	return nil
}

func (s *Set) addRef(ref string, v Value) {
	s.refs = append(s.refs, ref)
	s.values[ref] = v
}

// claim checks the top-level names an entry takes.
func (s *Set) claim(name, path string, refs []string, whole bool) error {
	var top []string
	switch {
	case name != "":
		if !secretNameRE.MatchString(name) {
			return fmt.Errorf("secret name %s: want letters, digits and '_', not starting with a digit", nameText(name))
		}
		top = []string{name}
	case whole:
		return fmt.Errorf("%s: a binary or age file needs a name", path)
	default:
		seen := map[string]bool{}
		for _, r := range refs {
			t, _, _ := strings.Cut(r, ".")
			if !seen[t] {
				seen[t] = true
				top = append(top, t)
			}
		}
	}
	for _, t := range top {
		if by, ok := s.taken[t]; ok {
			return fmt.Errorf("%s: the secret name %s is already taken by %s", path, nameText(t), by)
		}
	}
	for _, t := range top {
		s.taken[t] = path
	}
	return nil
}

// Refs lists every reference in the order added.
func (s *Set) Refs() []string { return append([]string(nil), s.refs...) }

// Lookup returns the value of a reference ("db.password"), for variables
// that come from secrets.
func (s *Set) Lookup(ref string) (Value, bool) {
	v, ok := s.values[ref]
	return v, ok
}

// TemplateData returns .Secrets for a template: each name to its file's
// TemplateData, and the top-level values of files without a name. It is
// plaintext (placeholders for entries of Info): give it to the renderer
// of the target file and to nothing else.
func (s *Set) TemplateData() map[string]any {
	out := map[string]any{}
	for _, e := range s.entries {
		var d any
		if e.file != nil {
			d = e.file.TemplateData()
		} else {
			d = e.info.TemplateData()
		}
		if e.name != "" {
			out[e.name] = d
			continue
		}
		for k, v := range d.(map[string]any) {
			out[k] = v
		}
	}
	return out
}

// MinRedacted is the shortest value Redact replaces: shorter ones ("1",
// "on") would blot out ordinary words of a message.
const MinRedacted = 4

// Redact replaces every value of the Set of at least MinRedacted bytes
// that occurs in text with "(secret)", longest first. It is a second line
// of defence for text gitfleet does not write itself (the output of an
// onChange command, an error of a template): nothing of this package
// needs it.
func (s *Set) Redact(text string) string {
	var plain []string
	for _, r := range s.refs {
		if v := s.values[r]; v.Len() >= MinRedacted {
			plain = append(plain, v.Reveal())
		}
	}
	// One pass, longest first at each position: a value inside a longer
	// one, or inside "(secret)", is not replaced again.
	sort.SliceStable(plain, func(i, j int) bool { return len(plain[i]) > len(plain[j]) })
	pairs := make([]string, 0, 2*len(plain))
	for _, p := range plain {
		pairs = append(pairs, p, Redacted)
	}
	return strings.NewReplacer(pairs...).Replace(text)
}

// String returns "(secrets: N values)".
func (s *Set) String() string { return fmt.Sprintf("(secrets: %d values)", len(s.refs)) }

// Format writes what String returns, whatever the verb.
func (s *Set) Format(f fmt.State, _ rune) { redactedFormat(f, s.String()) }
