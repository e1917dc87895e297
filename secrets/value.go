package secrets

import (
	"fmt"
	"io"
	"log/slog"
)

// Redacted is what a Value, a File, a Set or Keys show instead of their
// content, whatever prints them.
const Redacted = "(secret)"

// Value is one decrypted secret: a value of a structured file, or the
// whole content of a binary or age file. It is held in memory only and
// shows itself as "(secret)" to fmt (every verb, %#v and %+v included),
// encoding/json, encoding (text), YAML and log/slog. Even printed by
// reflection as an unexported field of another struct it shows a
// pointer, not its bytes. Reveal is the one way to its plaintext.
//
// The zero Value is empty.
type Value struct{ p *plaintext }

// plaintext is behind a pointer so that fmt, walking a struct that holds
// a Value in an unexported field, prints an address, never the bytes.
type plaintext struct{ b []byte }

func newValue(b []byte) Value { return Value{p: &plaintext{b: b}} }

// Reveal returns the plaintext, to be written into the target file of a
// server and nowhere else.
func (v Value) Reveal() string {
	if v.p == nil {
		return ""
	}
	return string(v.p.b)
}

// RevealBytes returns a copy of the plaintext (see Reveal).
func (v Value) RevealBytes() []byte {
	if v.p == nil {
		return nil
	}
	return append([]byte(nil), v.p.b...)
}

// Len is the length of the plaintext in bytes.
func (v Value) Len() int {
	if v.p == nil {
		return 0
	}
	return len(v.p.b)
}

// String returns "(secret)".
func (v Value) String() string { return Redacted }

// GoString returns "(secret)", for %#v.
func (v Value) GoString() string { return Redacted }

// Format writes "(secret)" whatever the verb and flags.
func (v Value) Format(f fmt.State, _ rune) { io.WriteString(f, Redacted) }

// MarshalJSON returns the JSON string "(secret)".
func (v Value) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// MarshalText returns "(secret)".
func (v Value) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// MarshalYAML returns "(secret)" (go.yaml.in/yaml/v3 and gopkg.in/yaml).
func (v Value) MarshalYAML() (any, error) { return Redacted, nil }

// LogValue returns "(secret)" for log/slog.
func (v Value) LogValue() slog.Value { return slog.StringValue(Redacted) }

// redactedFormat is the Format method of the types that hold values.
func redactedFormat(f fmt.State, what string) { io.WriteString(f, what) }
