package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const minimal = `source:
  directory:
    path: fleet
transport:
  type: local
  local:
    root: servers
stateDir: state
`

func TestParseMinimalFillsDefaults(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "gitfleet.yaml")
	c, err := Parse(file, []byte(minimal))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"file", c.File, file},
		{"listen", c.Listen, "127.0.0.1:9090"},
		{"resync", c.Resync, 5 * time.Minute},
		{"source.directory.path", c.Source.Directory.Path, filepath.Join(dir, "fleet")},
		{"source.directory.debounce", c.Source.Directory.Debounce, 500 * time.Millisecond},
		{"source.directory.maxBytes", c.Source.Directory.MaxBytes, int64(0)},
		{"transport.type", c.Transport.Type, "local"},
		{"transport.local.root", c.Transport.Local.Root, filepath.Join(dir, "servers")},
		{"stateDir", c.StateDir, filepath.Join(dir, "state")},
		{"distribution.parallelism", c.Distribution.Parallelism, 8},
		{"observe.parallelism", c.Observe.Parallelism, 32},
		{"observe.timeout", c.Observe.Timeout, 30 * time.Second},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s: got %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	// The exported defaults say the same as the numbers above.
	if DefaultListen != c.Listen || DefaultResync != c.Resync || DefaultDebounce != c.Source.Directory.Debounce ||
		DefaultDistributionParallelism != c.Distribution.Parallelism ||
		DefaultObserveParallelism != c.Observe.Parallelism || DefaultObserveTimeout != c.Observe.Timeout {
		t.Errorf("defaults filled %+v differ from the Default constants", c)
	}
}

func TestParseKeepsExplicitValues(t *testing.T) {
	dir := t.TempDir()
	abs := filepath.Join(t.TempDir(), "elsewhere")
	data := `# every field set
source:
  directory: {path: ` + abs + `, debounce: 2s, maxBytes: 1048576}
transport:
  local: {root: ../servers}   # type defaults to local when local is set
listen: "[::1]:9999"
stateDir: ./var/../state
resync: 90s
distribution: {parallelism: 3}
observe: {parallelism: 5, timeout: 1m}
`
	c, err := Parse(filepath.Join(dir, "conf", "gitfleet.yaml"), []byte(data))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"source.directory.path (absolute, kept)", c.Source.Directory.Path, abs},
		{"source.directory.debounce", c.Source.Directory.Debounce, 2 * time.Second},
		{"source.directory.maxBytes", c.Source.Directory.MaxBytes, int64(1 << 20)},
		{"transport.type", c.Transport.Type, "local"},
		{"transport.local.root (relative to the file, cleaned)", c.Transport.Local.Root, filepath.Join(dir, "servers")},
		{"listen", c.Listen, "[::1]:9999"},
		{"stateDir (cleaned)", c.StateDir, filepath.Join(dir, "conf", "state")},
		{"resync", c.Resync, 90 * time.Second},
		{"distribution.parallelism", c.Distribution.Parallelism, 3},
		{"observe.parallelism", c.Observe.Parallelism, 5},
		{"observe.timeout", c.Observe.Timeout, time.Minute},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s: got %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

// TestParseRelativeFile checks that a configuration named by a relative path
// still yields absolute paths, resolved against the working directory.
func TestParseRelativeFile(t *testing.T) {
	c, err := Parse(filepath.Join("conf", "gitfleet.yaml"), []byte(minimal))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(wd, "conf", "state"); c.StateDir != want {
		t.Errorf("stateDir: got %s, want %s", c.StateDir, want)
	}
	for name, p := range map[string]string{"source.directory.path": c.Source.Directory.Path, "transport.local.root": c.Transport.Local.Root, "stateDir": c.StateDir} {
		if !filepath.IsAbs(p) {
			t.Errorf("%s: got relative path %s, want absolute", name, p)
		}
	}
}

// TestParseAcceptsDocumentMarkers checks that the markers YAML allows around
// one document are not taken for a second document.
func TestParseAcceptsDocumentMarkers(t *testing.T) {
	tests := []struct {
		name, data string
	}{
		{"leading marker", "---\n" + minimal},
		{"trailing marker", minimal + "---\n"},
		{"end marker", minimal + "...\n"},
		{"trailing comment document", minimal + "---\n# nothing here\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("/etc/gitfleet/gitfleet.yaml", []byte(tt.data))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if c.StateDir != "/etc/gitfleet/state" {
				t.Errorf("stateDir: got %s, want /etc/gitfleet/state", c.StateDir)
			}
		})
	}
}

// TestLoadQuickstart loads the example the README walks through.
func TestLoadQuickstart(t *testing.T) {
	file := filepath.Join("..", "examples", "quickstart", "gitfleet.yaml")
	c, err := Load(file)
	if err != nil {
		t.Fatalf("Load %s: %v", file, err)
	}
	dir, err := filepath.Abs(filepath.Dir(file))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"source.directory.path", c.Source.Directory.Path, filepath.Join(dir, "desired")},
		{"source.directory.debounce", c.Source.Directory.Debounce, 300 * time.Millisecond},
		{"transport.local.root", c.Transport.Local.Root, filepath.Join(dir, "state", "fleet")},
		{"stateDir", c.StateDir, filepath.Join(dir, "state")},
		{"resync", c.Resync, time.Minute},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s: got %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "gitfleet.yaml")
	if err := os.WriteFile(file, []byte(minimal), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(file)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if want := filepath.Join(dir, "state"); c.StateDir != want {
		t.Errorf("stateDir: got %s, want %s", c.StateDir, want)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of a missing file: got %v, want an error wrapping os.ErrNotExist", err)
	}
}

// with replaces the line of minimal that starts with prefix (the first one)
// by repl, or appends repl when prefix is empty.
func with(prefix, repl string) string {
	if prefix == "" {
		return minimal + repl
	}
	lines := strings.Split(minimal, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, prefix) {
			lines[i] = repl
			return strings.Join(lines, "\n")
		}
	}
	panic("no line starting with " + prefix)
}

// TestParseErrors checks that every problem names the file and, where the
// problem is at a key that is present, its line. A missing key has no line:
// the error is then "file: message".
func TestParseErrors(t *testing.T) {
	const file = "/etc/gitfleet/gitfleet.yaml"
	tests := []struct {
		name     string
		data     string
		wantErrs []string // each must appear, as "file:line: msg" or "file: msg"
	}{
		{
			name:     "unknown key at top level",
			data:     with("", "lisen: 127.0.0.1:9000\n"),
			wantErrs: []string{file + `:9: unknown field "lisen" (known: allowEmpty, api, credentials, databases, distribution, drift, environmentFiles, history, limits, listen, notifications, observe, resync, source, stateDir, transport, webhooks)`},
		},
		{
			name:     "unknown nested key",
			data:     with("    root:", "    rot: servers"),
			wantErrs: []string{file + `:7: unknown field "rot" in transport.local (known: root)`},
		},
		{
			name:     "unknown key in source.directory",
			data:     with("    path:", "    path: fleet\n    debouce: 1s"),
			wantErrs: []string{file + `:4: unknown field "debouce" in source.directory`},
		},
		{
			name: "two unknown keys both reported",
			data: with("", "foo: 1\nbar: 2\n"),
			wantErrs: []string{
				file + `:9: unknown field "foo"`,
				file + `:10: unknown field "bar"`,
			},
		},
		{
			name:     "missing source",
			data:     "transport: {type: local, local: {root: r}}\nstateDir: s\n",
			wantErrs: []string{file + ": source: set directory"},
		},
		{
			name:     "empty source",
			data:     "source: {}\ntransport: {type: local, local: {root: r}}\nstateDir: s\n",
			wantErrs: []string{file + ":1: source: set directory"},
		},
		{
			name:     "source directory without path",
			data:     with("    path:", "    maxBytes: 10"),
			wantErrs: []string{file + ":2: source.directory.path is required"},
		},
		{
			name:     "debounce out of range",
			data:     with("    path:", "    path: fleet\n    debounce: 2m"),
			wantErrs: []string{file + ":4: source.directory.debounce 2m0s out of range 1ms..1m"},
		},
		{
			name:     "negative maxBytes",
			data:     with("    path:", "    path: fleet\n    maxBytes: -1"),
			wantErrs: []string{file + ":4: source.directory.maxBytes must not be negative"},
		},
		{
			name:     "missing stateDir",
			data:     with("stateDir:", ""),
			wantErrs: []string{file + ": stateDir is required"},
		},
		{
			name:     "missing transport",
			data:     "source: {directory: {path: d}}\nstateDir: s\n",
			wantErrs: []string{file + ": transport.type is required (local or ssh)"},
		},
		{
			name:     "unknown transport type",
			data:     with("  type:", "  type: rsync"),
			wantErrs: []string{file + `:5: unknown transport type "rsync" (want local or ssh)`},
		},
		{
			name:     "local transport without root",
			data:     "source: {directory: {path: d}}\ntransport:\n  type: local\nstateDir: s\n",
			wantErrs: []string{file + ":2: transport.local.root is required for the local transport"},
		},
		{
			name:     "bad listen address",
			data:     with("", "listen: localhost\n"),
			wantErrs: []string{file + `:9: listen "localhost": want host:port`},
		},
		{
			name:     "resync too short",
			data:     with("", "resync: 500ms\n"),
			wantErrs: []string{file + ":9: resync 500ms out of range 1s..24h"},
		},
		{
			name:     "resync too long",
			data:     with("", "resync: 25h\n"),
			wantErrs: []string{file + ":9: resync 25h0m0s out of range 1s..24h"},
		},
		{
			name:     "negative resync",
			data:     with("", "resync: -1m\n"),
			wantErrs: []string{file + ":9: resync -1m0s out of range 1s..24h"},
		},
		{
			name:     "resync is not a duration",
			data:     with("", "resync: banana\n"),
			wantErrs: []string{file + ":9: cannot unmarshal !!str `banana` into time.Duration"},
		},
		{
			name:     "resync without unit",
			data:     with("", "resync: 300\n"),
			wantErrs: []string{file + ":9: cannot unmarshal !!int `300` into time.Duration"},
		},
		{
			name:     "parallelism is not a number",
			data:     with("", "observe: {parallelism: many}\n"),
			wantErrs: []string{file + ":9: cannot unmarshal !!str `many` into int"},
		},
		{
			name:     "distribution parallelism out of range",
			data:     with("", "distribution:\n  parallelism: 1001\n"),
			wantErrs: []string{file + ":10: distribution.parallelism 1001 out of range 1..1000"},
		},
		{
			name:     "observe parallelism negative",
			data:     with("", "observe:\n  parallelism: -2\n"),
			wantErrs: []string{file + ":10: observe.parallelism -2 out of range 1..1000"},
		},
		{
			name:     "observe timeout out of range",
			data:     with("", "observe:\n  timeout: 11m\n"),
			wantErrs: []string{file + ":10: observe.timeout 11m0s out of range 1s..10m"},
		},
		{
			name:     "malformed YAML",
			data:     "source:\n  directory: {path: fleet\nstateDir: s\n",
			wantErrs: []string{file + ":2: did not find expected ',' or '}'"}, // the unclosed flow mapping
		},
		{
			name:     "tab indentation",
			data:     "source:\n\tdirectory: {}\n",
			wantErrs: []string{file + ":2: found character that cannot start any token"},
		},
		{
			name:     "duplicate key",
			data:     with("", "stateDir: other\n"),
			wantErrs: []string{file + `:9: mapping key "stateDir" already defined at line 8`},
		},
		{
			name:     "not a mapping",
			data:     "- source\n- transport\n",
			wantErrs: []string{file + ":1: cannot unmarshal !!seq into config.Config"},
		},
		{
			name:     "empty file",
			data:     "",
			wantErrs: []string{file + ": empty configuration"},
		},
		{
			name:     "only comments",
			data:     "# gitfleet.yaml\n\n# nothing yet\n",
			wantErrs: []string{file + ": empty configuration"},
		},
		{
			name: "null document: every required key reported",
			data: "---\n",
			wantErrs: []string{
				file + ": source: set directory",
				file + ": transport.type is required (local or ssh)",
				file + ": stateDir is required",
			},
		},
		{
			name:     "second document",
			data:     minimal + "---\nlisten: 0.0.0.0:9090\n",
			wantErrs: []string{file + ":10: a second YAML document is not allowed"},
		},
		{
			name:     "malformed second document",
			data:     minimal + "---\nlisten: [\n",
			wantErrs: []string{file + ":11: did not find expected node content"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(file, []byte(tt.data))
			if err == nil {
				t.Fatalf("got config %+v, want errors %q", c, tt.wantErrs)
			}
			if c != nil {
				t.Errorf("got config %+v alongside the error, want nil", c)
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error %T %q, want config.Errors", err, err)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(errs) {
				t.Errorf("error text has %d lines for %d errors:\n%s", len(lines), len(errs), err)
			}
			for _, want := range tt.wantErrs {
				found := false
				for _, l := range lines {
					if strings.HasPrefix(l, want) {
						found = true
					}
				}
				if !found {
					t.Errorf("no error starting with %q in:\n%s", want, err)
				}
			}
			if len(errs) != len(tt.wantErrs) {
				t.Errorf("got %d errors, want %d:\n%s", len(errs), len(tt.wantErrs), err)
			}
		})
	}
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"with line", &Error{File: "g.yaml", Line: 3, Msg: "bad"}, "g.yaml:3: bad"},
		{"without line", &Error{File: "g.yaml", Msg: "bad"}, "g.yaml: bad"},
		{"several", Errors{{File: "g.yaml", Line: 1, Msg: "a"}, {File: "g.yaml", Line: 2, Msg: "b"}}, "g.yaml:1: a\ng.yaml:2: b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSSHTransport(t *testing.T) {
	base := "source: {directory: {path: d}}\nstateDir: s\ntransport:\n  type: ssh\n  ssh:\n"
	c, err := Parse("/etc/gitfleet/gitfleet.yaml", []byte(base+"    keyFile: id_ed25519\n    knownHosts: known_hosts\n    user: deploy\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := c.Transport.SSH
	if s.KeyFile != "/etc/gitfleet/id_ed25519" || s.KnownHosts != "/etc/gitfleet/known_hosts" || s.User != "deploy" ||
		s.ConnectTimeout != DefaultSSHConnectTimeout || s.Keepalive != DefaultSSHKeepalive || s.MaxConnects != DefaultSSHMaxConnects {
		t.Errorf("got %+v", s)
	}
	for _, tt := range []struct{ extra, want string }{
		{"    keyFile: k\n", "transport.ssh.knownHosts is required"},
		{"    knownHosts: k\n", "transport.ssh: set keyFile or agent: true"},
		{"    knownHosts: k\n    keyFile: k\n    agent: true\n", "transport.ssh: set keyFile or agent: true"},
		{"    knownHosts: k\n    agent: true\n    maxConnects: 5000\n", ":8: transport.ssh.maxConnects 5000 out of range 1..1000"},
	} {
		if _, err := Parse("/etc/gitfleet/gitfleet.yaml", []byte(base+tt.extra)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: got %v, want %q", tt.extra, err, tt.want)
		}
	}
}
