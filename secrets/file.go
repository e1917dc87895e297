package secrets

import "fmt"

// MaxFileBytes bounds an encrypted file, and what a YAML file may expand
// to with its aliases.
const MaxFileBytes = 8 << 20

// File is a decrypted file, in memory only: the named values of a
// structured file (YAML, JSON, dotenv), or the one value of a binary
// SOPS file or an age file. It shows as "(secret file PATH)" to fmt.
type File struct {
	path       string
	format     Format
	tree       *node // structured files: the decrypted values
	whole      Value // binary and age files
	names      []string
	values     map[string]Value
	recipients []string
}

// Decrypt reads and decrypts an encrypted file of the repository: a SOPS
// file of the format (FormatAuto: by its name), or an age file. It checks
// the SOPS MAC, so a file changed without the key is refused. Errors are
// *Error, naming the file and, for SOPS, its recipients; never content.
func (k *Keys) Decrypt(path string, data []byte, format Format) (*File, error) {
	format = format.resolve(path)
	if len(data) > MaxFileBytes {
		return nil, fail(path, ErrMalformed, "is %d bytes, more than %d", len(data), MaxFileBytes)
	}
	if format == FormatAge {
		v, err := k.decryptAge(path, data)
		if err != nil {
			return nil, err
		}
		return &File{path: path, format: format, whole: v}, nil
	}
	sf, err := parseSOPS(path, data, format)
	if err != nil {
		return nil, err
	}
	return k.open(path, sf)
}

// open decrypts a parsed SOPS file.
func (k *Keys) open(path string, sf *sopsFile) (*File, error) {
	key, err := k.dataKey(path, sf.meta)
	if err != nil {
		return nil, err
	}
	tree, err := sf.decrypt(path, key)
	if err != nil {
		return nil, err
	}
	f := &File{path: path, format: sf.format, recipients: sf.meta.recipients()}
	if sf.format == FormatBinary {
		f.whole = newValue(leafText(tree.get("data").leaf))
		return f, nil
	}
	f.tree = tree
	f.values = map[string]Value{}
	_, err = walk(tree, nil, "", 0, func(leaf any, _ []string, name string, _ int) (*node, error) {
		f.names = append(f.names, name)
		f.values[name] = newValue(leafText(leaf))
		return nil, nil
	})
	if err == nil {
		err = checkNames(f.names)
	}
	if err != nil {
		return nil, &Error{File: path, Kind: ErrUnsupported, Recipients: f.recipients, Reason: err.Error()}
	}
	return f, nil
}

// Path is the file's path as given to Decrypt.
func (f *File) Path() string { return f.path }

// FileFormat is the file's format.
func (f *File) FileFormat() Format { return f.format }

// Recipients are the public keys a SOPS file is encrypted for (none for
// an age file, which does not record them).
func (f *File) Recipients() []string { return append([]string(nil), f.recipients...) }

// Names lists the names of a structured file's values in file order:
// mapping keys and list indexes joined by dots ("db.password",
// "hosts.0"). Binary and age files have none: their value is the file.
func (f *File) Names() []string { return append([]string(nil), f.names...) }

// Lookup returns a value by name (see Names); the empty name is the
// whole content of a binary or age file.
func (f *File) Lookup(name string) (Value, bool) {
	if f.tree == nil {
		return f.whole, name == ""
	}
	v, ok := f.values[name]
	return v, ok
}

// TemplateData returns the plaintext for a template: for a structured
// file nested map[string]any and []any with string leaves (numbers in
// decimal, booleans true or false, times in RFC 3339), for a binary or
// age file its content as a string. It is plaintext: give it to the
// renderer of the target file and to nothing else.
func (f *File) TemplateData() any {
	if f.tree == nil {
		return f.whole.Reveal()
	}
	return plainData(f.tree)
}

// Content returns the file's plaintext as a file: the content of a
// binary or age file, or a structured file written again in its format
// (YAML, JSON, or KEY=value lines), without the sops metadata and
// comments.
func (f *File) Content() (Value, error) {
	if f.tree == nil {
		return f.whole, nil
	}
	var b []byte
	var err error
	switch f.format {
	case FormatYAML:
		b, err = emitYAML(f.tree, nil)
	case FormatJSON:
		b, err = emitJSON(f.tree, nil)
	case FormatDotenv:
		b, err = emitDotenv(f.tree, nil)
	}
	if err != nil {
		// The emitters fail on types the parsers never produce; say so
		// without the value.
		return Value{}, fmt.Errorf("%s: cannot write its plaintext as %s", f.path, f.format)
	}
	return newValue(b), nil
}

// String returns "(secret file PATH)".
func (f *File) String() string { return "(secret file " + f.path + ")" }

// Format writes what String returns, whatever the verb.
func (f *File) Format(s fmt.State, _ rune) { redactedFormat(s, f.String()) }
