package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseAPI(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "gitfleet.yaml")
	tests := []struct {
		name string
		api  string
		want API
	}{
		{"none", "", API{}},
		{"tokenFile is one token named default", "api:\n  tokenFile: secrets/api-token\n",
			API{TokenFile: filepath.Join(dir, "secrets/api-token"), Tokens: []APIToken{{Name: "default", File: filepath.Join(dir, "secrets/api-token")}}}},
		{"named tokens and TLS", "api:\n  tokens:\n    - {name: ci, env: GITFLEET_CI_TOKEN}\n    - {name: ops.team, file: /run/secrets/ops}\n  tls: {certFile: tls/cert.pem, keyFile: /etc/gitfleet/key.pem}\n",
			API{Tokens: []APIToken{{Name: "ci", Env: "GITFLEET_CI_TOKEN"}, {Name: "ops.team", File: "/run/secrets/ops"}},
				TLS: &APITLS{CertFile: filepath.Join(dir, "tls/cert.pem"), KeyFile: "/etc/gitfleet/key.pem"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(file, []byte(minimal+tt.api))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.API, tt.want) {
				t.Errorf("api: got %+v, want %+v", c.API, tt.want)
			}
		})
	}
}

func TestParseAPIErrors(t *testing.T) {
	const file = "/etc/gitfleet/gitfleet.yaml"
	tests := []struct {
		name, api string
		wantErrs  []string
	}{
		{"tokenFile and tokens", "api:\n  tokenFile: t\n  tokens: [{name: ci, file: c}]\n",
			[]string{file + ":10: api: set tokenFile or tokens, not both"}},
		{"token without name", "api:\n  tokens:\n    - file: t\n",
			[]string{file + ":11: api.tokens[0].name is required"}},
		{"bad name", "api:\n  tokens:\n    - {name: 'a b', file: t}\n",
			[]string{file + `:11: api.tokens[0].name "a b": want letters, digits`}},
		{"name twice", "api:\n  tokens:\n    - {name: ci, file: t}\n    - name: ci\n      env: CI_TOKEN\n",
			[]string{file + `:12: api.tokens[1].name "ci" is used twice`}},
		{"neither file nor env", "api:\n  tokens:\n    - {name: ci}\n",
			[]string{file + ":11: api.tokens[0]: set exactly one of file and env"}},
		{"file and env", "api:\n  tokens:\n    - {name: ci, file: t, env: T}\n",
			[]string{file + ":11: api.tokens[0]: set exactly one of file and env"}},
		{"bad env name", "api:\n  tokens:\n    - {name: ci, env: 'A-B'}\n",
			[]string{file + `:11: api.tokens[0].env "A-B" is not an environment variable name`}},
		{"the token in the file", "api:\n  tokens:\n    - {name: ci, token: abc}\n",
			[]string{file + `:11: unknown field "token" in api.tokens.0 (known: env, file, name)`}},
		{"tls without key", "api:\n  tls: {certFile: c.pem}\n",
			[]string{file + ":10: api.tls: set certFile and keyFile"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(file, []byte(minimal+tt.api))
			if err == nil {
				t.Fatalf("no error, want %q", tt.wantErrs)
			}
			for _, want := range tt.wantErrs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error\n%s\ndoes not contain\n%s", err, want)
				}
			}
		})
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:9090":       true,
		"127.0.0.42:9090":      true,
		"[::1]:9090":           true,
		"localhost:9090":       true,
		"[::ffff:127.0.0.1]:1": true,
		"0.0.0.0:9090":         false,
		":9090":                false,
		"[::]:9090":            false,
		"10.0.0.5:9090":        false,
		"gitfleet.internal:1":  false,
		"localhost.evil.com:1": false,
		"9090":                 false,
	} {
		if got := IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

func TestCheckListen(t *testing.T) {
	const file = "/etc/gitfleet/gitfleet.yaml"
	c, err := Parse(file, []byte(minimal+"listen: 0.0.0.0:9090\n"))
	if err != nil {
		t.Fatal(err)
	}
	err = c.CheckListen(c.Listen)
	if err == nil || !strings.HasPrefix(err.Error(), file+":9: listen 0.0.0.0:9090 is not a loopback address, and the API has no token") {
		t.Errorf("non-loopback listen without a token: got %v", err)
	}
	if err := c.CheckListen("127.0.0.1:9090"); err != nil {
		t.Errorf("run --listen 127.0.0.1:9090 over a non-loopback listen: %v", err)
	}
	// run --listen names the address; the file's line does not apply.
	if err := c.CheckListen("10.0.0.5:1"); err == nil || !strings.HasPrefix(err.Error(), file+": listen 10.0.0.5:1 is not") {
		t.Errorf("run --listen 10.0.0.5:1: got %v", err)
	}
	c, err = Parse(file, []byte(minimal+"listen: 0.0.0.0:9090\napi: {tokenFile: /run/secrets/t}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CheckListen(c.Listen); err != nil {
		t.Errorf("non-loopback listen with a token: %v", err)
	}
}

func TestAPITokenSecret(t *testing.T) {
	dir := t.TempDir()
	good := "0123456789abcdef0123"
	files := map[string]string{"good": good + "\n", "short": "abc\n", "empty": "\n", "two": good + "\n" + good + "\n"}
	for n, v := range files {
		os.WriteFile(filepath.Join(dir, n), []byte(v), 0o600)
	}
	t.Setenv("GITFLEET_TEST_TOKEN", "  "+good+"  ")
	tests := []struct {
		tok     APIToken
		want    string
		wantErr string
	}{
		{APIToken{Name: "a", File: filepath.Join(dir, "good")}, good, ""},
		{APIToken{Name: "a", Env: "GITFLEET_TEST_TOKEN"}, good, ""},
		{APIToken{Name: "a", File: filepath.Join(dir, "short")}, "", "api token a: the token in file " + filepath.Join(dir, "short") + " has 3 characters; use at least 16"},
		{APIToken{Name: "a", File: filepath.Join(dir, "empty")}, "", "is empty"},
		{APIToken{Name: "a", File: filepath.Join(dir, "two")}, "", "holds white space"},
		{APIToken{Name: "a", File: filepath.Join(dir, "missing")}, "", "no such file"},
		{APIToken{Name: "a", Env: "GITFLEET_TEST_UNSET"}, "", "environment variable GITFLEET_TEST_UNSET is empty"},
	}
	for _, tt := range tests {
		got, err := tt.tok.Secret()
		if got != tt.want || (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%+v: got %q, %v; want %q, %q", tt.tok, got, err, tt.want, tt.wantErr)
		}
		if err != nil && strings.Contains(err.Error(), good) {
			t.Errorf("the error quotes the token: %v", err)
		}
	}
}
