package secrets

import (
	"fmt"
	"path"
	"strings"
)

// Format is how an encrypted file is laid out.
type Format int

// The formats. FormatAuto chooses by the file's name (FormatOf).
const (
	FormatAuto Format = iota
	// FormatYAML, FormatJSON and FormatDotenv are structured SOPS files:
	// their keys are in clear, each value is encrypted on its own.
	FormatYAML
	FormatJSON
	FormatDotenv
	// FormatBinary is a SOPS file holding one opaque value (SOPS writes
	// it as JSON with a single "data" key).
	FormatBinary
	// FormatAge is a plain age file, binary or armored.
	FormatAge
)

var formatNames = map[Format]string{
	FormatAuto:   "auto",
	FormatYAML:   "yaml",
	FormatJSON:   "json",
	FormatDotenv: "dotenv",
	FormatBinary: "binary",
	FormatAge:    "age",
}

func (f Format) String() string {
	if n, ok := formatNames[f]; ok {
		return n
	}
	return fmt.Sprintf("format(%d)", int(f))
}

// Structured reports whether the format holds named values (YAML, JSON,
// dotenv) rather than one opaque value.
func (f Format) Structured() bool {
	return f == FormatYAML || f == FormatJSON || f == FormatDotenv
}

// ParseFormat reads a format name: auto, yaml, json, dotenv, binary or age
// (empty means auto).
func ParseFormat(s string) (Format, error) {
	if s == "" {
		return FormatAuto, nil
	}
	for f, n := range formatNames {
		if n == s {
			return f, nil
		}
	}
	return 0, fmt.Errorf("unknown secrets format %q: want yaml, json, dotenv, binary or age", s)
}

// FormatOf chooses a format by a file's name, as the sops command does:
// .yaml and .yml are YAML, .json JSON, .env dotenv, .age a plain age
// file, anything else binary.
func FormatOf(name string) Format {
	switch strings.ToLower(path.Ext(name)) {
	case ".yaml", ".yml":
		return FormatYAML
	case ".json":
		return FormatJSON
	case ".env":
		return FormatDotenv
	case ".age":
		return FormatAge
	}
	return FormatBinary
}

// resolve turns FormatAuto into the format of the file's name.
func (f Format) resolve(name string) Format {
	if f == FormatAuto {
		return FormatOf(name)
	}
	return f
}
