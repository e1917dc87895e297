package discovery

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/cluster"
	"github.com/gitfleet/gitfleet/internal/strictyaml"
	"go.yaml.in/yaml/v3"
)

func TestConfigValidateNamesTheField(t *testing.T) {
	good := func() Config {
		return Config{
			File:    &FileConfig{Path: "/var/lib/gitfleet/servers.json"},
			Command: &CommandConfig{Run: Argv{"/usr/local/bin/inventory", "--env", "production"}},
			DNS:     &DNSConfig{Name: "_ssh._tcp.web.example.com", Resolver: "127.0.0.1:53"},
			Etcd:    &EtcdConfig{Endpoints: []string{"http://10.0.0.1:2379"}, Prefix: "/inventory/production"},
		}
	}
	for _, tc := range []struct {
		name   string
		change func(c *Config)
		fields []string
	}{
		{"defaults", func(c *Config) {}, nil},
		{"no source", func(c *Config) { *c = Config{} }, []string{"file"}},
		{"relative file", func(c *Config) { c.File.Path = "servers.json" }, []string{"file.path"}},
		{"unclean file", func(c *Config) { c.File.Path = "/var/lib/../servers.json" }, []string{"file.path"}},
		{"no run", func(c *Config) { c.Command.Run = nil }, []string{"command.run"}},
		{"relative program", func(c *Config) { c.Command.Run[0] = "./inventory" }, []string{"command.run.0"}},
		{"program by name", func(c *Config) { c.Command.Run[0] = "aws" }, nil},
		{"NUL in an argument", func(c *Config) { c.Command.Run[2] = "a\x00b" }, []string{"command.run.2"}},
		{"short interval", func(c *Config) { c.Command.Interval = time.Millisecond }, []string{"command.interval"}},
		{"long timeout", func(c *Config) { c.Command.Timeout = 2 * time.Hour }, []string{"command.timeout"}},
		{"huge output", func(c *Config) { c.Command.MaxOutputBytes = 1 << 30 }, []string{"command.maxOutputBytes"}},
		{"bad env name", func(c *Config) { c.Command.Env = map[string]string{"A-B": "x"} }, []string{"command.env.A-B"}},
		{"bad passEnv", func(c *Config) { c.Command.PassEnv = []string{"HOME", "1X"} }, []string{"command.passEnv.1"}},
		{"bad dns name", func(c *Config) { c.DNS.Name = "web..example.com" }, []string{"dns.name"}},
		{"srv with port", func(c *Config) { c.DNS.Port = 22 }, []string{"dns.port"}},
		{"unknown type", func(c *Config) { c.DNS.Type = "mx" }, []string{"dns.type"}},
		{"resolver by name", func(c *Config) { c.DNS.Resolver = "dns.example.com:53" }, []string{"dns.resolver"}},
		{"resolver without port", func(c *Config) { c.DNS.Resolver = "127.0.0.1" }, []string{"dns.resolver"}},
		{"refresh cap below floor", func(c *Config) { c.DNS.MaxRefresh = time.Second }, []string{"dns.maxRefresh"}},
		{"bad dns group", func(c *Config) { c.DNS.Groups = []string{"web", "Web"} }, []string{"dns.groups.1"}},
		{"bad dns label", func(c *Config) { c.DNS.Labels = map[string]string{"a": "b\nc"} }, []string{"dns.labels.a"}},
		{"trimSuffix without dot", func(c *Config) { c.DNS.TrimSuffix = "example.com" }, []string{"dns.trimSuffix"}},
		{"no etcd prefix", func(c *Config) { c.Etcd.Prefix = "" }, []string{"etcd.prefix"}},
		{"etcd prefix with trailing /", func(c *Config) { c.Etcd.Prefix = "/inventory/" }, []string{"etcd.prefix"}},
		{"bad endpoint", func(c *Config) { c.Etcd.Endpoints = []string{"etcd-1"} }, []string{"etcd.endpoints.0"}},
		{"user without password", func(c *Config) { c.Etcd.Username = "inventory" }, []string{"etcd.username"}},
		{"maxRemove over 100%", func(c *Config) { c.MaxRemove = &Amount{N: 150, Percent: true} }, []string{"maxRemove"}},
		{"maxServers", func(c *Config) { c.MaxServers = 1 << 20 }, []string{"maxServers"}},
	} {
		c := good()
		tc.change(&c)
		err := c.WithDefaults().Validate()
		var fe FieldErrors
		if err != nil && !errors.As(err, &fe) {
			t.Fatalf("%s: %T is not FieldErrors", tc.name, err)
		}
		var got []string
		for _, e := range fe {
			got = append(got, e.Field)
		}
		if strings.Join(got, ",") != strings.Join(tc.fields, ",") {
			t.Errorf("%s: errors on %v (%v), want on %v", tc.name, got, err, tc.fields)
		}
	}
}

// environment is how spec would hold the section: a field of an
// Environment document, decoded strictly.
type environment struct {
	Name      string  `yaml:"name"`
	Discovery *Config `yaml:"discovery"`
}

func TestConfigDecodesStrictlyFromAnEnvironment(t *testing.T) {
	src := `name: production
discovery:
  file: {path: /var/lib/terraform/servers.json}
  command:
    run: [aws, ec2, describe-instances, --output, json]
    interval: 2m
    timeout: 20s
    passEnv: [HOME, AWS_PROFILE]
  dns: {name: _ssh._tcp.web.example.com, maxRefresh: 1m}
  etcd:
    endpoints: [https://10.0.0.1:2379]
    tls: {caFile: /etc/gitfleet/etcd-ca.pem}
    username: gitfleet-inventory
    passwordFile: /etc/gitfleet/inventory.password
    prefix: /inventory/production
  maxRemove: 25%
`
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(src), &n); err != nil {
		t.Fatal(err)
	}
	var e environment
	lines, problems := strictyaml.Decode(n.Content[0], &e)
	if len(problems) > 0 {
		t.Fatalf("problems: %v", problems)
	}
	c := e.Discovery.WithDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Command.Interval != 2*time.Minute || c.Command.Run[0] != "aws" || *c.MaxRemove != (Amount{25, true}) || c.DNS.Type != DNSTypeSRV || c.DNS.MinRefresh != DefaultMinRefresh || c.Etcd.TLS.CAFile == "" {
		t.Errorf("decoded %+v", c)
	}
	if l := strictyaml.Line(lines, "discovery.command.timeout"); l != 7 {
		t.Errorf("line of discovery.command.timeout %d, want 7 (spec points errors there)", l)
	}

	for _, tc := range []struct{ src, want string }{
		{"name: p\ndiscovery:\n  file: {path: /x, watch: true}\n", `line 3: unknown field "watch" in discovery.file`},
		{"name: p\ndiscovery:\n  command: {run: inventory --json}\n", "line 3: run is a list, the program and its arguments, run without a shell; for a shell write [sh, -c, \"inventory --json\"]"},
		{"name: p\ndiscovery:\n  maxRemove: half\n", `line 3: "half": want a count or a percentage`},
	} {
		var n yaml.Node
		yaml.Unmarshal([]byte(tc.src), &n)
		var e environment
		_, problems := strictyaml.Decode(n.Content[0], &e)
		var got []string
		for _, p := range problems {
			got = append(got, "line "+itoa(uint64(p.Line))+": "+p.Msg)
		}
		if len(got) == 0 || !strings.HasPrefix(got[0], tc.want) {
			t.Errorf("%q: problems %q, want %q", tc.src, got, tc.want)
		}
	}
}

func TestCheckClusterRefusesTheClustersCredentials(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "cluster.password")
	os.WriteFile(pw, []byte("x"), 0o600)
	link := filepath.Join(dir, "link")
	os.Symlink(pw, link)
	cl := &cluster.Config{Etcd: cluster.Etcd{Endpoints: []string{"http://10.0.0.1:2379"}, Username: "gitfleet", PasswordFile: pw, Prefix: "/gitfleet"}}
	for _, tc := range []struct {
		name   string
		e      EtcdConfig
		fields []string
	}{
		{"own user, other prefix", EtcdConfig{Endpoints: []string{"10.0.0.1:2379"}, Username: "inventory", PasswordFile: "/etc/inv.pw", Prefix: "/inventory"}, nil},
		{"the cluster's user", EtcdConfig{Endpoints: []string{"10.0.0.9:2379"}, Username: "gitfleet", PasswordFile: "/etc/inv.pw", Prefix: "/inventory"}, []string{"etcd.username"}},
		{"the cluster's password file by a link", EtcdConfig{Endpoints: []string{"10.0.0.9:2379"}, Username: "inventory", PasswordFile: link, Prefix: "/inventory"}, []string{"etcd.passwordFile"}},
		{"inside the cluster's prefix", EtcdConfig{Endpoints: []string{"http://10.0.0.1:2379/"}, Prefix: "/gitfleet/inventory"}, []string{"etcd.prefix"}},
		{"same prefix of another etcd", EtcdConfig{Endpoints: []string{"http://10.0.0.2:2379"}, Prefix: "/gitfleet"}, nil},
	} {
		err := Config{Etcd: &tc.e}.CheckCluster(cl)
		var fe FieldErrors
		errors.As(err, &fe)
		var got []string
		for _, e := range fe {
			got = append(got, e.Field)
		}
		if strings.Join(got, ",") != strings.Join(tc.fields, ",") {
			t.Errorf("%s: errors on %v (%v), want on %v", tc.name, got, err, tc.fields)
		}
	}
	if err := (Config{Etcd: &EtcdConfig{Username: "gitfleet"}}).CheckCluster(nil); err != nil {
		t.Errorf("without a cluster: %v", err)
	}
}

func TestEtcdClientConfigReadsFilesAndNamesTheBadOne(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "password")
	os.WriteFile(pw, []byte("s3cret\n"), 0o600)
	e := EtcdConfig{Endpoints: []string{"127.0.0.1:2379"}, Username: "inventory", PasswordFile: pw, Timeout: time.Second}
	cc, err := clientConfig(e)
	if err != nil || cc.Password != "s3cret" || cc.Username != "inventory" {
		t.Errorf("got %q/%q, %v; want inventory/s3cret", cc.Username, cc.Password, err)
	}
	e.PasswordFile = filepath.Join(dir, "missing")
	if _, err := clientConfig(e); err == nil || !strings.Contains(err.Error(), "discovery.etcd.passwordFile") {
		t.Errorf("missing password file: got %v", err)
	}
	ca := filepath.Join(dir, "ca.pem")
	os.WriteFile(ca, []byte("not a certificate"), 0o600)
	e.PasswordFile, e.TLS = pw, &cluster.TLS{CAFile: ca}
	_, err = clientConfig(e)
	if err == nil || !strings.Contains(err.Error(), "caFile") || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("bad CA: got %v", err)
	}
}
