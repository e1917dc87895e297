package spec

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"unicode"
)

// EnvConfig is an environment's own configuration, the environment lane:
// managed files and variables rendered into an env file, applied to every
// server of the environment on their own, ahead of the files of releases.
type EnvConfig struct {
	Files []ConfigFile `yaml:"files,omitempty"`
	// Vars are written as KEY=value lines (sorted) to EnvFile.
	Vars    map[string]string `yaml:"vars,omitempty"`
	EnvFile string            `yaml:"envFile,omitempty"`
	// OnChange runs on a server after any of its files changed.
	OnChange string `yaml:"onChange,omitempty"`
	// Mode of EnvFile (default 0640).
	EnvFileMode string `yaml:"envFileMode,omitempty"`
}

// ConfigFile is one managed file: fixed content, or a Go template
// rendered per server with .Environment, .Server (Name, Host, Groups) and
// .Vars.
type ConfigFile struct {
	Path     string `yaml:"path"`
	Content  string `yaml:"content,omitempty"`
	Template string `yaml:"template,omitempty"`
	// Mode is octal, default 0644.
	Mode string `yaml:"mode,omitempty"`

	tmpl *template.Template // parsed by Load, with the bounds of render.go
}

// RenderedFile is a managed file as one server gets it.
type RenderedFile struct {
	Path   string `json:"path"`
	Data   []byte `json:"-"`
	Mode   uint32 `json:"mode"`
	Digest string `json:"digest"` // hex sha256 of Data
}

var varRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func parseMode(s string, def uint32) (uint32, bool) {
	if s == "" {
		return def, true
	}
	n, err := strconv.ParseUint(s, 8, 32)
	if err != nil || n > 0o777 {
		return 0, false
	}
	return uint32(n), true
}

func validateConfig(e *Environment, lim renderLimits, errs *errorList) {
	c := e.Config
	e.render = lim
	seen := map[string]bool{}
	checkPath := func(field, p string) {
		switch {
		case p == "":
			errs.add(e.PosOf(field), "%s is required", field)
		case !path.IsAbs(p) || path.Clean(p) != p || p == "/" || strings.Contains(p, "/.."):
			errs.add(e.PosOf(field), "%s %q must be a clean absolute path", field, p)
		case strings.IndexFunc(p, unicode.IsSpace) >= 0 || hasControl(p):
			// Paths are passed to onChange space-separated.
			errs.add(e.PosOf(field), "%s %q: no whitespace or control characters in a managed file's path", field, p)
		case seen[p]:
			errs.add(e.PosOf(field), "%s %q is managed twice", field, p)
		}
		seen[p] = true
	}
	for i, f := range c.Files {
		field := "config.files." + strconv.Itoa(i)
		checkPath(field+".path", f.Path)
		if (f.Content == "") == (f.Template == "") {
			errs.add(e.PosOf(field), "%s: set exactly one of content and template", field)
		}
		if f.Template != "" {
			t, err := parseTemplate(f.Path, f.Template)
			if err != nil {
				errs.add(e.PosOf(field+".template"), "%s.template: %v", field, err)
			} else {
				c.Files[i].tmpl = t
			}
		}
		if _, ok := parseMode(f.Mode, 0o644); !ok {
			errs.add(e.PosOf(field+".mode"), "%s.mode %q: want octal such as 0644", field, f.Mode)
		}
	}
	if len(c.Vars) > 0 && c.EnvFile == "" {
		errs.add(e.PosOf("config.vars"), "config.vars needs config.envFile, the file they are written to")
	}
	if c.EnvFile != "" {
		checkPath("config.envFile", c.EnvFile)
	}
	if _, ok := parseMode(c.EnvFileMode, 0o640); !ok {
		errs.add(e.PosOf("config.envFileMode"), "config.envFileMode %q: want octal such as 0640", c.EnvFileMode)
	}
	for k, v := range c.Vars {
		if !varRE.MatchString(k) {
			errs.add(e.PosOf("config.vars."+k), "config.vars: invalid name %q", k)
		}
		if strings.ContainsAny(v, "\n\x00") {
			errs.add(e.PosOf("config.vars."+k), "config.vars.%s: a value cannot hold a newline", k)
		} else if hasControl(strings.ReplaceAll(v, "\t", "")) {
			errs.add(e.PosOf("config.vars."+k), "config.vars.%s: a value cannot hold control characters other than tab", k)
		}
	}
	// Every template must render for every server now, not at deploy
	// time, and all of them within one renderTimeout.
	b, cancel := newBudget(lim)
	defer cancel()
	for i := range e.Servers {
		if field, err := e.renderWith(&e.Servers[i], b); err != nil {
			errs.add(e.PosOf(field), "%s for server %q: %s", field, e.Servers[i].Name, renderProblem(err, lim))
			break
		}
	}
}

// RenderConfig returns the managed files of the environment as the server
// gets them, sorted by path. Templates render within the limits Load was
// given (limits.maxRenderedBytes per file, limits.renderTimeout).
func (e *Environment) RenderConfig(srv *Server) ([]RenderedFile, error) {
	if e.Config == nil {
		return nil, nil
	}
	b, cancel := newBudget(e.render)
	defer cancel()
	var out []RenderedFile
	field, err := e.renderInto(srv, b, &out)
	if err != nil {
		return nil, fmt.Errorf("%s: %s", field, renderProblem(err, e.render))
	}
	return out, nil
}

// renderWith renders the server's files within b, for validation; the
// error names the field that failed.
func (e *Environment) renderWith(srv *Server, b *budget) (field string, err error) {
	var out []RenderedFile
	return e.renderInto(srv, b, &out)
}

func (e *Environment) renderInto(srv *Server, b *budget, dst *[]RenderedFile) (field string, err error) {
	c := e.Config
	data := map[string]any{
		"Environment": e.Name,
		"Server":      map[string]any{"Name": srv.Name, "Host": srv.Host, "Groups": srv.Groups},
		"Vars":        c.Vars,
	}
	var out []RenderedFile
	for i, f := range c.Files {
		content := []byte(f.Content)
		if f.Template != "" {
			field := "config.files." + strconv.Itoa(i) + ".template"
			if f.tmpl == nil {
				return field, fmt.Errorf("%s: template not parsed", f.Path)
			}
			rendered, err := b.execute(f.tmpl, data)
			if err != nil {
				return field, err
			}
			content = rendered
		}
		mode, _ := parseMode(f.Mode, 0o644)
		out = append(out, rendered(f.Path, content, mode))
	}
	if c.EnvFile != "" {
		keys := make([]string, 0, len(c.Vars))
		for k := range c.Vars {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b bytes.Buffer
		for _, k := range keys {
			fmt.Fprintf(&b, "%s=%s\n", k, c.Vars[k])
		}
		mode, _ := parseMode(c.EnvFileMode, 0o640)
		out = append(out, rendered(c.EnvFile, b.Bytes(), mode))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	*dst = out
	return "", nil
}

func rendered(p string, data []byte, mode uint32) RenderedFile {
	sum := sha256.Sum256(data)
	return RenderedFile{Path: p, Data: data, Mode: mode, Digest: hex.EncodeToString(sum[:])}
}

// CheckRoots reports every managed file outside roots (from gitfleet.yaml):
// the environment lane writes nowhere else.
func CheckRoots(d *Desired, roots []string) error {
	var errs errorList
	checkRoots(d, roots, &errs)
	return errs.err()
}

func checkRoots(d *Desired, roots []string, errs *errorList) {
	inside := func(p string) bool {
		for _, r := range roots {
			// Strictly inside: a root is a directory, never a managed file.
			if strings.HasPrefix(p, strings.TrimSuffix(r, "/")+"/") {
				return true
			}
		}
		return false
	}
	// The environment lane keeps its records in <root>/.gitfleet.
	reserved := func(p string) string {
		for _, r := range roots {
			dir := strings.TrimSuffix(r, "/") + "/.gitfleet"
			if p == dir || strings.HasPrefix(p, dir+"/") {
				return dir
			}
		}
		return ""
	}
	check := func(e *Environment, field, p string) {
		if !inside(p) {
			errs.add(e.PosOf(field), "%s %q is outside the roots of environmentFiles in gitfleet.yaml (%s)", field, p, strings.Join(roots, ", "))
		} else if dir := reserved(p); dir != "" {
			errs.add(e.PosOf(field), "%s %q is in %s, where gitfleet keeps the records of the environment lane", field, p, dir)
		}
	}
	for _, e := range d.Environments {
		if e.Config == nil {
			continue
		}
		for i, f := range e.Config.Files {
			check(e, "config.files."+strconv.Itoa(i)+".path", f.Path)
		}
		if c := e.Config.EnvFile; c != "" {
			check(e, "config.envFile", c)
		}
	}
}
