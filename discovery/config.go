package discovery

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gitfleet/gitfleet/cluster"
	"go.yaml.in/yaml/v3"
)

// Config is the `discovery` section of an Environment: where its servers
// come from besides its static list, and how much of the fleet a new
// answer may take away at once. Any number of the four sources may be set
// (at least one); their lists are merged.
type Config struct {
	File    *FileConfig    `yaml:"file,omitempty"`
	Command *CommandConfig `yaml:"command,omitempty"`
	DNS     *DNSConfig     `yaml:"dns,omitempty"`
	Etcd    *EtcdConfig    `yaml:"etcd,omitempty"`
	// MaxRemove bounds how many of the Environment's servers one new
	// answer may remove without an operator's confirmation: a count or a
	// percentage of its current servers (default 50%; 100% lets the
	// Environment scale to zero; 0 holds every removal).
	MaxRemove *Amount `yaml:"maxRemove,omitempty"`
	// MaxServers bounds the list of each source (default 10000); a longer
	// answer is an error of the source.
	MaxServers int `yaml:"maxServers,omitempty"`
}

// FileConfig is a JSON or YAML file listing servers, watched for changes.
type FileConfig struct {
	// Path is absolute, on the daemon's machine.
	Path string `yaml:"path"`
	// Debounce is the quiet time after a change before the file is read
	// (default 200ms).
	Debounce time.Duration `yaml:"debounce,omitempty"`
	// Rescan re-reads the file this often in case a change was missed
	// (default 1m).
	Rescan time.Duration `yaml:"rescan,omitempty"`
}

// CommandConfig is a program that prints the server list as JSON.
type CommandConfig struct {
	// Run is the program and its arguments, run without a shell: no
	// word splitting, quoting, globs or variables. To use a shell, say
	// so: [sh, -c, "aws ... | jq ..."]. The program is an absolute path
	// or a name looked up in the PATH of the command's environment.
	Run Argv `yaml:"run"`
	// Interval between runs (default 1m); Timeout bounds one run
	// (default 30s), after which its process group is killed.
	Interval time.Duration `yaml:"interval,omitempty"`
	Timeout  time.Duration `yaml:"timeout,omitempty"`
	// The command's environment is PATH=/usr/local/bin:/usr/bin:/bin,
	// GITFLEET_ENVIRONMENT, the daemon's variables named in PassEnv, and
	// Env, in that order (a later one wins).
	Env     map[string]string `yaml:"env,omitempty"`
	PassEnv []string          `yaml:"passEnv,omitempty"`
	// MaxOutputBytes bounds stdout (default 4 MiB); a larger answer is
	// refused. Stderr is kept up to 64 KiB, for errors.
	MaxOutputBytes int64 `yaml:"maxOutputBytes,omitempty"`
}

// DNSConfig is a DNS name whose SRV records, or A and AAAA records, are
// the servers; it is asked again when the answer's TTL runs out.
type DNSConfig struct {
	Name string `yaml:"name"`
	// Type is srv or a (A and AAAA); default srv when the name's first
	// label starts with '_' (_ssh._tcp.web.example.com), else a.
	Type string `yaml:"type,omitempty"`
	// Port is the SSH port of servers found by A/AAAA records (default:
	// the Environment's); SRV records carry their own.
	Port int `yaml:"port,omitempty"`
	// Resolver is the DNS server asked, an IP address with a port
	// (default: the first nameserver of /etc/resolv.conf, port 53).
	Resolver string `yaml:"resolver,omitempty"`
	// Timeout bounds one query (default 5s).
	Timeout time.Duration `yaml:"timeout,omitempty"`
	// The answer's TTL is the time to the next query, at least MinRefresh
	// (default 5s) and at most MaxRefresh (default 5m).
	MinRefresh time.Duration `yaml:"minRefresh,omitempty"`
	MaxRefresh time.Duration `yaml:"maxRefresh,omitempty"`
	// TrimSuffix is cut from an SRV target to make the server's name
	// (".web.example.com": web-1.web.example.com is web-1).
	TrimSuffix string `yaml:"trimSuffix,omitempty"`
	// Groups, Site and Labels are given to every server found.
	Groups []string          `yaml:"groups,omitempty"`
	Site   string            `yaml:"site,omitempty"`
	Labels map[string]string `yaml:"labels,omitempty"`
}

// EtcdConfig is a prefix of an etcd cluster under which servers register
// themselves, each key <prefix>/<name> holding the server as JSON, under a
// lease. Its endpoints and credentials are its own: a user whose role may
// only read the prefix, never the credentials of the daemon's cluster
// (see CheckCluster). The fields are those of cluster.Etcd.
type EtcdConfig struct {
	Endpoints    []string     `yaml:"endpoints"`
	TLS          *cluster.TLS `yaml:"tls,omitempty"`
	Username     string       `yaml:"username,omitempty"`
	PasswordFile string       `yaml:"passwordFile,omitempty"`
	Prefix       string       `yaml:"prefix"`
	// Timeout bounds one request (default 5s).
	Timeout time.Duration `yaml:"timeout,omitempty"`
}

// Defaults.
const (
	DefaultMaxServers      = 10000
	DefaultFileDebounce    = 200 * time.Millisecond
	DefaultFileRescan      = time.Minute
	DefaultCommandInterval = time.Minute
	DefaultCommandTimeout  = 30 * time.Second
	DefaultMaxOutputBytes  = 4 << 20
	DefaultDNSTimeout      = 5 * time.Second
	DefaultMinRefresh      = 5 * time.Second
	DefaultMaxRefresh      = 5 * time.Minute
	DefaultEtcdTimeout     = 5 * time.Second
	// MaxFileBytes bounds a discovery file.
	MaxFileBytes = 16 << 20
)

// DefaultMaxRemove is maxRemove's default: half of the servers.
var DefaultMaxRemove = Amount{N: 50, Percent: true}

// Argv is a program and its arguments.
type Argv []string

// UnmarshalYAML takes a list and explains what a plain string would mean.
func (a *Argv) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.SequenceNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: run is a list, the program and its arguments, run without a shell; for a shell write [sh, -c, %q]", n.Line, clip(n.Value))}}
	}
	var s []string
	if err := n.Decode(&s); err != nil {
		return err
	}
	*a = s
	return nil
}

// Amount is a count or a percentage ("25%").
type Amount struct {
	N       int
	Percent bool
}

// Of is the amount of total, a percentage rounded down: 50% of 5 servers
// is 2, so that a limit on removals never allows more than it says.
func (a Amount) Of(total int) int {
	if !a.Percent {
		return a.N
	}
	return a.N * total / 100
}

func (a Amount) String() string {
	if a.Percent {
		return strconv.Itoa(a.N) + "%"
	}
	return strconv.Itoa(a.N)
}

// ParseAmount reads 3 or "25%".
func ParseAmount(s string) (Amount, error) {
	v := strings.TrimSpace(s)
	pct := strings.HasSuffix(v, "%")
	n, err := strconv.Atoi(strings.TrimSuffix(v, "%"))
	if err != nil || n < 0 || (pct && n > 100) {
		return Amount{}, fmt.Errorf("%q: want a count or a percentage from 0%% to 100%%", clip(s))
	}
	return Amount{N: n, Percent: pct}, nil
}

// UnmarshalYAML takes 3 or "25%".
func (a *Amount) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: want a count or a percentage such as 50%%", n.Line)}}
	}
	v, err := ParseAmount(n.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v", n.Line, err)}}
	}
	*a = v
	return nil
}

// MarshalYAML writes the amount as it is read.
func (a Amount) MarshalYAML() (any, error) { return a.String(), nil }

// WithDefaults returns the configuration with empty fields set to their
// defaults; the sources are copied, not shared.
func (c Config) WithDefaults() Config {
	if c.MaxRemove == nil {
		m := DefaultMaxRemove
		c.MaxRemove = &m
	}
	if c.MaxServers == 0 {
		c.MaxServers = DefaultMaxServers
	}
	if c.File != nil {
		f := *c.File
		f.Debounce = orDefault(f.Debounce, DefaultFileDebounce)
		f.Rescan = orDefault(f.Rescan, DefaultFileRescan)
		c.File = &f
	}
	if c.Command != nil {
		cmd := *c.Command
		cmd.Interval = orDefault(cmd.Interval, DefaultCommandInterval)
		cmd.Timeout = orDefault(cmd.Timeout, DefaultCommandTimeout)
		if cmd.MaxOutputBytes == 0 {
			cmd.MaxOutputBytes = DefaultMaxOutputBytes
		}
		c.Command = &cmd
	}
	if c.DNS != nil {
		d := *c.DNS
		if d.Type == "" {
			d.Type = DNSTypeA
			if strings.HasPrefix(d.Name, "_") {
				d.Type = DNSTypeSRV
			}
		}
		d.Timeout = orDefault(d.Timeout, DefaultDNSTimeout)
		d.MinRefresh = orDefault(d.MinRefresh, DefaultMinRefresh)
		d.MaxRefresh = orDefault(d.MaxRefresh, DefaultMaxRefresh)
		c.DNS = &d
	}
	if c.Etcd != nil {
		e := *c.Etcd
		e.Timeout = orDefault(e.Timeout, DefaultEtcdTimeout)
		c.Etcd = &e
	}
	return c
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// FieldError is one problem of the configuration; Field is the path below
// `discovery` (command.timeout), so that spec can add file:line.
type FieldError struct {
	Field string
	Msg   string
}

func (e FieldError) Error() string { return "discovery." + e.Field + ": " + e.Msg }

// FieldErrors is every problem Validate found.
type FieldErrors []FieldError

func (es FieldErrors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}
