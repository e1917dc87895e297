package cluster

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestConfigValidate(t *testing.T) {
	good := Config{Replica: "gitfleet-1", Etcd: Etcd{Endpoints: []string{"http://10.0.0.1:2379", "10.0.0.2:2379"}}}.WithDefaults(nil)
	for _, tc := range []struct {
		name   string
		change func(c *Config)
		fields []string // want errors on exactly these fields
	}{
		{"defaults", func(c *Config) {}, nil},
		{"no endpoints", func(c *Config) { c.Etcd.Endpoints = nil }, []string{"etcd.endpoints"}},
		{"bad endpoint", func(c *Config) { c.Etcd.Endpoints[1] = "etcd-2" }, []string{"etcd.endpoints.1"}},
		{"path in endpoint", func(c *Config) { c.Etcd.Endpoints[0] = "http://h:2379/v3" }, []string{"etcd.endpoints.0"}},
		{"https without tls", func(c *Config) { c.Etcd.Endpoints[0] = "https://h:2379" }, []string{"etcd.endpoints.0"}},
		{"http with tls", func(c *Config) { c.Etcd.TLS = &TLS{CAFile: "/ca.pem"} }, []string{"etcd.endpoints.0"}},
		{"https with tls", func(c *Config) {
			c.Etcd.TLS = &TLS{CAFile: "/ca.pem"}
			c.Etcd.Endpoints = []string{"https://h:2379"}
		}, nil},
		{"cert without key", func(c *Config) {
			c.Etcd.TLS = &TLS{CertFile: "/c.pem"}
			c.Etcd.Endpoints = []string{"https://h:2379"}
		}, []string{"etcd.tls"}},
		{"user without password", func(c *Config) { c.Etcd.Username = "gitfleet" }, []string{"etcd.username"}},
		{"prefix without /", func(c *Config) { c.Etcd.Prefix = "gitfleet" }, []string{"etcd.prefix"}},
		{"prefix ending in /", func(c *Config) { c.Etcd.Prefix = "/gitfleet/" }, []string{"etcd.prefix"}},
		{"short ttl", func(c *Config) { c.Etcd.LeaseTTL = time.Second }, []string{"etcd.leaseTTL"}},
		{"fractional ttl", func(c *Config) { c.Etcd.LeaseTTL = 2500 * time.Millisecond }, []string{"etcd.leaseTTL"}},
		{"replica with /", func(c *Config) { c.Replica = "a/b" }, []string{"replica"}},
		{"no replica", func(c *Config) { c.Replica = "" }, []string{"replica"}},
		{"two problems", func(c *Config) { c.Replica, c.Etcd.Prefix = "", "x" }, []string{"etcd.prefix", "replica"}},
	} {
		c := good
		c.Etcd.Endpoints = append([]string(nil), good.Etcd.Endpoints...)
		tc.change(&c)
		err := c.Validate()
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

func TestConfigDefaultsAndYAML(t *testing.T) {
	var c Config
	src := "etcd:\n  endpoints: [\"http://127.0.0.1:2379\"]\n  leaseTTL: 30s\n  tls: {caFile: /etc/ca.pem}\n"
	if err := yaml.Unmarshal([]byte(src), &c); err != nil {
		t.Fatal(err)
	}
	c = c.WithDefaults(func() (string, error) { return "host-7", nil })
	if c.Replica != "host-7" || c.Etcd.Prefix != DefaultPrefix || c.Etcd.LeaseTTL != 30*time.Second || c.Etcd.TLS.CAFile != "/etc/ca.pem" {
		t.Errorf("got %+v", c)
	}
	c = Config{}.WithDefaults(nil)
	if c.Etcd.LeaseTTL != DefaultLeaseTTL {
		t.Errorf("leaseTTL default %s, want %s", c.Etcd.LeaseTTL, DefaultLeaseTTL)
	}
}

func TestClientConfigReadsFilesAndNamesTheBadOne(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "password")
	os.WriteFile(pw, []byte("s3cret\n"), 0o600)
	c := Config{Replica: "r", Etcd: Etcd{Endpoints: []string{"127.0.0.1:2379"}, Username: "gitfleet", PasswordFile: pw}}.WithDefaults(nil)
	cc, err := c.clientConfig()
	if err != nil || cc.Password != "s3cret" || cc.Username != "gitfleet" {
		t.Errorf("got %q/%q, %v; want gitfleet/s3cret", cc.Username, cc.Password, err)
	}
	c.Etcd.PasswordFile = filepath.Join(dir, "missing")
	if _, err := c.clientConfig(); err == nil || !strings.Contains(err.Error(), "passwordFile") {
		t.Errorf("missing password file: got %v", err)
	}
	ca := filepath.Join(dir, "ca.pem")
	os.WriteFile(ca, []byte("not a certificate"), 0o600)
	c.Etcd.PasswordFile, c.Etcd.TLS = pw, &TLS{CAFile: ca}
	if _, err := c.clientConfig(); err == nil || !strings.Contains(err.Error(), "caFile") {
		t.Errorf("bad CA: got %v", err)
	}
	if strings.Contains(func() string { _, err := c.clientConfig(); return err.Error() }(), "s3cret") {
		t.Error("an error quotes the password")
	}
}
