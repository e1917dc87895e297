// Package config reads gitfleet.yaml, the daemon's own configuration: where
// the desired state comes from, how servers are reached, where the daemon
// listens and keeps its state. It is separate from the desired-state
// repository, which says nothing about credentials or the daemon itself.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/gitfleet/gitfleet/internal/strictyaml"
	"go.yaml.in/yaml/v3"
)

// Config is gitfleet.yaml. Relative paths in it are relative to the file.
type Config struct {
	Source Source `yaml:"source"`
	// Credentials for Git remotes, chosen by the longest matching URL
	// prefix.
	Credentials []Credential `yaml:"credentials,omitempty"`
	Webhooks    Webhooks     `yaml:"webhooks,omitempty"`
	Transport   Transport    `yaml:"transport"`
	Listen      string       `yaml:"listen,omitempty"`
	// API secures the HTTP API on Listen: tokens and TLS.
	API          API          `yaml:"api,omitempty"`
	StateDir     string       `yaml:"stateDir"`
	Resync       Duration     `yaml:"resync,omitempty"`
	Distribution Distribution `yaml:"distribution,omitempty"`
	Observe      Observe      `yaml:"observe,omitempty"`
	// EnvironmentFiles bounds where the environment lane may write on
	// servers.
	EnvironmentFiles EnvironmentFiles `yaml:"environmentFiles,omitempty"`
	// Databases are the targets of the database lane, by the name
	// Releases use.
	Databases map[string]*Database `yaml:"databases,omitempty"`
	// Drift tunes drift detection.
	Drift Drift `yaml:"drift,omitempty"`
	// History bounds the record of rollouts in the state directory.
	History History `yaml:"history,omitempty"`
	// Notifications say what happens: webhooks, Slack, commit statuses.
	Notifications Notifications `yaml:"notifications,omitempty"`
	// Limits bound what the desired state may cost to load.
	Limits Limits `yaml:"limits,omitempty"`
	// AllowEmpty accepts a desired state without any Environment, which
	// unmanages every server; without it such a state is refused.
	AllowEmpty bool `yaml:"allowEmpty,omitempty"`

	// File is the path the configuration was read from.
	File string `yaml:"-"`

	listenLine int
}

// Notifications are where gitfleet reports rollouts and drift.
type Notifications struct {
	Webhooks     []NotifyHook  `yaml:"webhooks,omitempty"`
	Slack        []NotifyHook  `yaml:"slack,omitempty"`
	CommitStatus *CommitStatus `yaml:"commitStatus,omitempty"`
}

// NotifyHook is an HTTP endpoint. Its URL may be a secret (Slack's are):
// then give urlFile.
type NotifyHook struct {
	URL        string   `yaml:"url,omitempty"`
	URLFile    string   `yaml:"urlFile,omitempty"`
	SecretFile string   `yaml:"secretFile,omitempty"` // webhooks: HMAC-SHA256 of the body
	Events     []string `yaml:"events,omitempty"`     // default: all
}

// CommitStatus sets statuses on the desired-state repository's commits.
type CommitStatus struct {
	Provider   string `yaml:"provider"` // github, gitlab or gitea
	APIURL     string `yaml:"apiURL"`
	Repository string `yaml:"repository"`
	TokenFile  string `yaml:"tokenFile,omitempty"`
	TokenEnv   string `yaml:"tokenEnv,omitempty"`
}

// notifyEvents are the kinds a hook may ask for.
var notifyEvents = map[string]bool{"rollout-started": true, "rollout-succeeded": true, "rollout-failed": true, "drift-detected": true}

// History bounds the history kept in <stateDir>/history.db.
type History struct {
	MaxEvents int      `yaml:"maxEvents,omitempty"` // default 10000
	MaxAge    Duration `yaml:"maxAge,omitempty"`    // default 2160h (90 days)
}

// Limits bound what loading the desired state may cost. Zero takes the
// default of the spec package (spec.DefaultMaxFileBytes, ...).
type Limits struct {
	// MaxFileBytes bounds each desired-state file, and each of its
	// documents with its YAML aliases expanded (default 8 MiB).
	MaxFileBytes int64 `yaml:"maxFileBytes,omitempty"`
	// MaxRenderedBytes bounds a managed file rendered from a template for
	// one server (default 1 MiB).
	MaxRenderedBytes int64 `yaml:"maxRenderedBytes,omitempty"`
	// RenderTimeout bounds the rendering of an Environment's templates
	// for all its servers at load time, and for one server at a pass
	// (default 2s).
	RenderTimeout Duration `yaml:"renderTimeout,omitempty"`
}

// Drift tunes drift detection.
type Drift struct {
	// ContentInterval is how often the files of active releases are
	// checked against the releases (default 10m).
	ContentInterval Duration `yaml:"contentInterval,omitempty"`
}

// DefaultContentInterval is drift.contentInterval's default.
const DefaultContentInterval = 10 * time.Minute

// EnvironmentFiles lists the directories of the servers that managed
// files of Environments may be written to; no roots, no managed files.
type EnvironmentFiles struct {
	Roots []string `yaml:"roots,omitempty"`
}

// Database is a PostgreSQL database the database lane applies changes to.
// Its DSN is read from a file or an environment variable, never written in
// the desired-state repository.
type Database struct {
	Type    string `yaml:"type,omitempty"` // postgres (the default and only type)
	DSNFile string `yaml:"dsnFile,omitempty"`
	DSNEnv  string `yaml:"dsnEnv,omitempty"`
	// Timeout bounds each change of the database lane on it: its SQL,
	// or its command on a server (default 10m).
	Timeout Duration `yaml:"timeout,omitempty"`
}

// DSN reads the database's connection string.
func (d *Database) DSN() (string, error) {
	if d.DSNEnv != "" {
		v := strings.TrimSpace(os.Getenv(d.DSNEnv))
		if v == "" {
			return "", fmt.Errorf("environment variable %s is empty", d.DSNEnv)
		}
		return v, nil
	}
	b, err := os.ReadFile(d.DSNFile)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// Duration is a time.Duration written as "90s" or "5m".
type Duration = time.Duration

// Source says where the desired state comes from. Exactly one kind is set.
type Source struct {
	Directory *DirectorySource `yaml:"directory,omitempty"`
	Git       *GitSource       `yaml:"git,omitempty"`
}

// DirectorySource watches a directory of the local file system.
type DirectorySource struct {
	Path string `yaml:"path"`
	// Debounce is how long the directory must stay quiet after a change
	// before it is read (default 500ms).
	Debounce Duration `yaml:"debounce,omitempty"`
	// MaxBytes bounds the total size of the files read (default 1 GiB).
	MaxBytes int64 `yaml:"maxBytes,omitempty"`
}

// Transport says how servers are reached.
type Transport struct {
	Type  string          `yaml:"type"`
	Local *LocalTransport `yaml:"local,omitempty"`
	SSH   *SSHTransport   `yaml:"ssh,omitempty"`
}

// SSHTransport reaches servers over SSH. Users and ports set in the
// desired state (per environment or server) win over User and Port.
type SSHTransport struct {
	User           string `yaml:"user,omitempty"` // default root
	Port           int    `yaml:"port,omitempty"` // default 22
	KeyFile        string `yaml:"keyFile,omitempty"`
	PassphraseFile string `yaml:"passphraseFile,omitempty"`
	// Agent uses the ssh-agent of SSH_AUTH_SOCK.
	Agent          bool     `yaml:"agent,omitempty"`
	KnownHosts     string   `yaml:"knownHosts"`
	ConnectTimeout Duration `yaml:"connectTimeout,omitempty"` // default 10s
	Keepalive      Duration `yaml:"keepalive,omitempty"`      // default 15s
	// MaxConnects bounds connection attempts at once (default 30).
	MaxConnects int `yaml:"maxConnects,omitempty"`
}

// LocalTransport makes every server a directory: Root/<server name>. The
// server's absolute deployTo paths live inside that directory.
type LocalTransport struct {
	Root string `yaml:"root"`
}

// Distribution tunes staging of releases onto servers.
type Distribution struct {
	// Parallelism is how many servers are staged at once (default 8).
	Parallelism int `yaml:"parallelism,omitempty"`
	// Timeout bounds staging one release on one server (default 10m).
	Timeout Duration `yaml:"timeout,omitempty"`
}

// Observe tunes observation of the fleet.
type Observe struct {
	// Parallelism is how many servers are inspected at once (default 32).
	Parallelism int `yaml:"parallelism,omitempty"`
	// Timeout bounds the inspection of one server (default 30s).
	Timeout Duration `yaml:"timeout,omitempty"`
}

// Defaults.
const (
	DefaultListen                  = "127.0.0.1:9090"
	DefaultResync                  = 5 * time.Minute
	DefaultDebounce                = 500 * time.Millisecond
	DefaultDistributionParallelism = 8
	DefaultDistributionTimeout     = 10 * time.Minute
	DefaultDatabaseTimeout         = 10 * time.Minute
	DefaultObserveParallelism      = 32
	DefaultObserveTimeout          = 30 * time.Second
)

// Error is a problem in the configuration file.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return e.File + ": " + e.Msg
}

// Errors is every problem found in the configuration.
type Errors []*Error

func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Load reads and checks the configuration file.
func Load(file string) (*Config, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return Parse(file, data)
}

// Parse checks configuration data read from file; relative paths are
// resolved against file's directory.
func Parse(file string, data []byte) (*Config, error) {
	var errs Errors
	add := func(line int, format string, args ...any) {
		errs = append(errs, &Error{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, Errors{{File: file, Msg: "empty configuration"}}
		}
		for _, p := range strictyaml.Problems(err) {
			add(p.Line, "%s", p.Msg)
		}
		return nil, errs
	}
	// A second document would be ignored silently: refuse it.
	var extra yaml.Node
	if err := dec.Decode(&extra); err != nil && !errors.Is(err, io.EOF) {
		for _, p := range strictyaml.Problems(err) {
			add(p.Line, "%s", p.Msg)
		}
	} else if err == nil && len(extra.Content) > 0 && extra.Content[0].Tag != "!!null" {
		add(extra.Content[0].Line, "a second YAML document is not allowed: the configuration is one mapping")
	}
	if len(errs) > 0 {
		return nil, errs
	}
	c := &Config{File: file}
	lines, problems := strictyaml.Decode(doc.Content[0], c)
	for _, p := range problems {
		add(p.Line, "%s", p.Msg)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	ck := &checker{file: file, dir: filepath.Dir(file), lines: lines, errs: &errs}
	at, add, abs := ck.at, ck.add, ck.abs

	switch {
	case c.Source.Directory == nil && c.Source.Git == nil:
		add(at("source"), "source: set directory or git")
	case c.Source.Directory != nil && c.Source.Git != nil:
		add(at("source"), "source: set directory or git, not both")
	case c.Source.Git != nil:
		c.Source.Git.check(ck)
	default:
		d := c.Source.Directory
		if d.Path == "" {
			add(at("source.directory"), "source.directory.path is required")
		}
		d.Path = abs(d.Path)
		if d.Debounce == 0 {
			d.Debounce = DefaultDebounce
		}
		if d.Debounce < time.Millisecond || d.Debounce > time.Minute {
			add(at("source.directory.debounce"), "source.directory.debounce %s out of range 1ms..1m", d.Debounce)
		}
		if d.MaxBytes < 0 {
			add(at("source.directory.maxBytes"), "source.directory.maxBytes must not be negative")
		}
	}
	for i := range c.Credentials {
		c.Credentials[i].check(ck, i)
	}
	c.Webhooks.check(ck)
	if c.Webhooks != (Webhooks{}) && c.Source.Git == nil {
		add(at("webhooks"), "webhooks need a git source: a directory source is watched, not pushed to")
	}

	if c.Transport.Type == "" && c.Transport.Local != nil && c.Transport.SSH == nil {
		c.Transport.Type = "local"
	}
	if c.Transport.Type == "" && c.Transport.SSH != nil && c.Transport.Local == nil {
		c.Transport.Type = "ssh"
	}
	switch c.Transport.Type {
	case "local":
		if c.Transport.Local == nil || c.Transport.Local.Root == "" {
			add(at("transport"), "transport.local.root is required for the local transport")
		} else {
			c.Transport.Local.Root = abs(c.Transport.Local.Root)
		}
	case "ssh":
		if c.Transport.SSH == nil {
			add(at("transport"), "transport.ssh is required for the ssh transport")
		} else {
			c.Transport.SSH.check(ck)
		}
	case "":
		add(at("transport"), "transport.type is required (local or ssh)")
	default:
		add(at("transport.type"), "unknown transport type %q (want local or ssh)", c.Transport.Type)
	}

	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		add(at("listen"), "listen %q: want host:port (%v)", c.Listen, err)
	}
	c.listenLine = at("listen")
	c.API.check(ck)
	if c.StateDir == "" {
		add(at("stateDir"), "stateDir is required")
	}
	c.StateDir = abs(c.StateDir)
	if c.Resync == 0 {
		c.Resync = DefaultResync
	}
	if c.Resync < time.Second || c.Resync > 24*time.Hour {
		add(at("resync"), "resync %s out of range 1s..24h", c.Resync)
	}
	if c.Distribution.Parallelism == 0 {
		c.Distribution.Parallelism = DefaultDistributionParallelism
	}
	if c.Distribution.Parallelism < 1 || c.Distribution.Parallelism > 1000 {
		add(at("distribution.parallelism"), "distribution.parallelism %d out of range 1..1000", c.Distribution.Parallelism)
	}
	if c.Distribution.Timeout == 0 {
		c.Distribution.Timeout = DefaultDistributionTimeout
	}
	if c.Distribution.Timeout < time.Second || c.Distribution.Timeout > 24*time.Hour {
		add(at("distribution.timeout"), "distribution.timeout %s out of range 1s..24h", c.Distribution.Timeout)
	}
	if c.Observe.Parallelism == 0 {
		c.Observe.Parallelism = DefaultObserveParallelism
	}
	if c.Observe.Parallelism < 1 || c.Observe.Parallelism > 1000 {
		add(at("observe.parallelism"), "observe.parallelism %d out of range 1..1000", c.Observe.Parallelism)
	}
	if c.Observe.Timeout == 0 {
		c.Observe.Timeout = DefaultObserveTimeout
	}
	if c.Observe.Timeout < time.Second || c.Observe.Timeout > 10*time.Minute {
		add(at("observe.timeout"), "observe.timeout %s out of range 1s..10m", c.Observe.Timeout)
	}
	if c.Drift.ContentInterval == 0 {
		c.Drift.ContentInterval = DefaultContentInterval
	}
	if c.Drift.ContentInterval < time.Second || c.Drift.ContentInterval > 24*time.Hour {
		add(at("drift.contentInterval"), "drift.contentInterval %s out of range 1s..24h", c.Drift.ContentInterval)
	}
	for kind, hooks := range map[string][]NotifyHook{"webhooks": c.Notifications.Webhooks, "slack": c.Notifications.Slack} {
		for i := range hooks {
			h := &hooks[i]
			f := fmt.Sprintf("notifications.%s.%d", kind, i)
			if (h.URL == "") == (h.URLFile == "") {
				add(at(f), "%s: set exactly one of url and urlFile", f)
			}
			if h.URL != "" {
				if u, err := url.Parse(h.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					add(at(f+".url"), "%s.url: want an http or https URL", f)
				}
			}
			if kind == "slack" && h.SecretFile != "" {
				add(at(f+".secretFile"), "%s.secretFile is for webhooks", f)
			}
			for _, e := range h.Events {
				if !notifyEvents[e] {
					add(at(f+".events"), "%s.events: unknown event %q (want rollout-started, rollout-succeeded, rollout-failed, drift-detected)", f, e)
				}
			}
			h.URLFile, h.SecretFile = ck.abs(h.URLFile), ck.abs(h.SecretFile)
		}
	}
	if cs := c.Notifications.CommitStatus; cs != nil {
		f := "notifications.commitStatus"
		switch cs.Provider {
		case "github", "gitlab", "gitea":
		default:
			add(at(f+".provider"), "%s.provider %q: want github, gitlab or gitea", f, cs.Provider)
		}
		if u, err := url.Parse(cs.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add(at(f+".apiURL"), "%s.apiURL: want the forge's API URL (https://api.github.com, https://gitlab.example.com/api/v4, https://gitea.example.com/api/v1)", f)
		}
		if cs.Repository == "" {
			add(at(f), "%s.repository is required (owner/name)", f)
		}
		if (cs.TokenFile == "") == (cs.TokenEnv == "") {
			add(at(f), "%s: set exactly one of tokenFile and tokenEnv", f)
		}
		cs.TokenFile = ck.abs(cs.TokenFile)
	}
	if c.History.MaxEvents < 0 || c.History.MaxEvents > 10_000_000 {
		add(at("history.maxEvents"), "history.maxEvents %d out of range 1..10000000", c.History.MaxEvents)
	}
	if c.History.MaxAge < 0 {
		add(at("history.maxAge"), "history.maxAge must not be negative")
	}
	for name, db := range c.Databases {
		f := "databases." + name
		switch {
		case db == nil:
			add(at(f), "%s: set dsnFile or dsnEnv", f)
			continue
		case db.Type != "" && db.Type != "postgres":
			add(at(f+".type"), "%s.type %q: want postgres", f, db.Type)
		case (db.DSNFile == "") == (db.DSNEnv == ""):
			add(at(f), "%s: set exactly one of dsnFile and dsnEnv (the DSN never goes in the repository)", f)
		}
		db.DSNFile = ck.abs(db.DSNFile)
		if db.Timeout == 0 {
			db.Timeout = DefaultDatabaseTimeout
		}
		if db.Timeout < time.Second || db.Timeout > 24*time.Hour {
			add(at(f+".timeout"), "%s.timeout %s out of range 1s..24h", f, db.Timeout)
		}
	}
	if l := c.Limits.MaxFileBytes; l != 0 && (l < 1<<10 || l > 1<<30) {
		add(at("limits.maxFileBytes"), "limits.maxFileBytes %d out of range 1024..1073741824", l)
	}
	if l := c.Limits.MaxRenderedBytes; l != 0 && (l < 1<<10 || l > 1<<28) {
		add(at("limits.maxRenderedBytes"), "limits.maxRenderedBytes %d out of range 1024..268435456", l)
	}
	if l := c.Limits.RenderTimeout; l != 0 && (l < 10*time.Millisecond || l > time.Minute) {
		add(at("limits.renderTimeout"), "limits.renderTimeout %s out of range 10ms..1m", l)
	}
	for i, r := range c.EnvironmentFiles.Roots {
		if !path.IsAbs(r) || path.Clean(r) != r || r == "/" {
			add(at(fmt.Sprintf("environmentFiles.roots.%d", i)), "environmentFiles.roots[%d] %q: want a clean absolute directory other than /", i, r)
		}
	}
	if len(errs) > 0 {
		sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
		return nil, errs
	}
	if c.EnvironmentFiles.Roots == nil {
		c.EnvironmentFiles.Roots = []string{}
	}
	return c, nil
}

// checker collects errors at the lines of the fields they concern.
type checker struct {
	file  string
	dir   string
	lines map[string]int
	errs  *Errors
}

func (c *checker) at(field string) int {
	for f := field; f != ""; {
		if l, ok := c.lines[f]; ok {
			return l
		}
		i := strings.LastIndexByte(f, '.')
		if i < 0 {
			break
		}
		f = f[:i]
	}
	return 0
}

func (c *checker) add(line int, format string, args ...any) {
	*c.errs = append(*c.errs, &Error{File: c.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// abs makes a path relative to the configuration file absolute.
func (c *checker) abs(p string) string {
	if p == "" {
		return p
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(c.dir, p)
	}
	if a, err := filepath.Abs(p); err == nil {
		p = a
	}
	return p
}

// Defaults of the SSH transport.
const (
	DefaultSSHConnectTimeout = 10 * time.Second
	DefaultSSHKeepalive      = 15 * time.Second
	DefaultSSHMaxConnects    = 30
)

func (t *SSHTransport) check(ck *checker) {
	const f = "transport.ssh"
	if t.KnownHosts == "" {
		ck.add(ck.at(f), "transport.ssh.knownHosts is required: host keys are always checked")
	}
	if (t.KeyFile == "") == !t.Agent {
		ck.add(ck.at(f), "transport.ssh: set keyFile or agent: true")
	}
	if t.Port < 0 || t.Port > 65535 {
		ck.add(ck.at(f+".port"), "transport.ssh.port %d out of range 1..65535", t.Port)
	}
	if t.ConnectTimeout == 0 {
		t.ConnectTimeout = DefaultSSHConnectTimeout
	}
	if t.ConnectTimeout < 100*time.Millisecond || t.ConnectTimeout > 5*time.Minute {
		ck.add(ck.at(f+".connectTimeout"), "transport.ssh.connectTimeout %s out of range 100ms..5m", t.ConnectTimeout)
	}
	if t.Keepalive == 0 {
		t.Keepalive = DefaultSSHKeepalive
	}
	if t.Keepalive < time.Second || t.Keepalive > 10*time.Minute {
		ck.add(ck.at(f+".keepalive"), "transport.ssh.keepalive %s out of range 1s..10m", t.Keepalive)
	}
	if t.MaxConnects == 0 {
		t.MaxConnects = DefaultSSHMaxConnects
	}
	if t.MaxConnects < 1 || t.MaxConnects > 1000 {
		ck.add(ck.at(f+".maxConnects"), "transport.ssh.maxConnects %d out of range 1..1000", t.MaxConnects)
	}
	t.KeyFile, t.PassphraseFile, t.KnownHosts = ck.abs(t.KeyFile), ck.abs(t.PassphraseFile), ck.abs(t.KnownHosts)
}
