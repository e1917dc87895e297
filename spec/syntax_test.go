package spec

import (
	"strings"
	"testing"
)

// Values that reach HAProxy's runtime API, SSH or a shell command line
// must not be able to end one command and start another.
func TestValuesOfCommandLanguages(t *testing.T) {
	lb := func(address, backend, lbName string) string {
		return "kind: Environment\nname: production\nloadBalancer: {type: haproxy, address: '" + address + "', backend: '" + backend + "'}\nservers:\n  - {name: web-1, lbName: '" + lbName + "', groups: [blue]}\n  - {name: web-2, groups: [green]}\n"
	}
	server := func(fields string) string {
		return "kind: Environment\nname: production\nservers:\n  - {name: web-1, " + fields + "}\n"
	}
	tests := []struct {
		name string
		env  string
		app  string
		want string // "" for no error
	}{
		{name: "haproxy names", env: lb("/run/haproxy/admin.sock", "be_web:1", "web-1.a_b:c")},
		{name: "haproxy over tcp", env: lb("127.0.0.1:9999", "web", "w1")},
		{name: "haproxy unix: address", env: lb("unix:/run/haproxy.sock", "web", "w1")},
		{name: "backend with a command separator", env: lb("/run/haproxy/admin.sock", "web;disable server web/web-2", "w1"),
			want: `e.yaml:3: invalid loadBalancer.backend "web;disable server web/web-2": use letters, digits, '.', '_', ':' and '-'`},
		{name: "lbName with a command separator", env: lb("/run/haproxy/admin.sock", "web", "w1;shutdown sessions server web/web-2"),
			want: `e.yaml:5: invalid lbName "w1;shutdown sessions server web/web-2" for server "web-1"`},
		{name: "lbName with a space", env: lb("/run/haproxy/admin.sock", "web", "w 1"), want: `invalid lbName "w 1"`},
		{name: "lb address with a separator", env: lb("127.0.0.1:9999;x", "web", "w1"), want: `e.yaml:3: invalid loadBalancer.address "127.0.0.1:9999;x"`},
		{name: "lb address without a port", env: lb("haproxy.internal", "web", "w1"), want: `invalid loadBalancer.address "haproxy.internal"`},
		{name: "lb socket path with a tab", env: lb("/run/ha\tproxy", "web", "w1"), want: `invalid loadBalancer.address`},
		{name: "ssh user", env: server("user: deploy_2.x")},
		{name: "ssh user as an option", env: server("user: -oProxyCommand=sh"), want: `e.yaml:4: invalid user "-oProxyCommand=sh"`},
		{name: "ssh user with a separator", env: server("user: 'root;id'"), want: `invalid user "root;id"`},
		{name: "ssh user with a host", env: server("user: root@other"), want: `invalid user "root@other"`},
		{name: "environment ssh.user", env: "kind: Environment\nname: production\nssh: {user: 'a b'}\nservers: [{name: web-1}]\n", want: `e.yaml:3: invalid ssh.user "a b"`},
		{name: "address host name", env: server("address: web_1.internal.example:2222")},
		{name: "address IPv6", env: server("address: '[2001:db8::1]:22'")},
		{name: "address with a separator", env: server("address: 'web;id'"), want: `e.yaml:4: invalid address "web;id" for server "web-1"`},
		{name: "address with a comma (two known_hosts names)", env: server("address: 'a,b'"), want: `invalid address "a,b"`},
		{name: "address with a wildcard", env: server("address: '*'"), want: `invalid address "*"`},
		{name: "deployTo with a newline", env: server("address: 10.0.0.1"), app: strings.Replace(validApp, "deployTo: /srv/web", `deployTo: "/srv/we\nb"`, 1), want: `deployTo "/srv/we\nb" must not hold control characters`},
		{name: "managed file with a space", env: server("address: 10.0.0.1") + "config: {files: [{path: /etc/web/a b.conf, content: x}]}\n", want: `config.files.0.path "/etc/web/a b.conf": no whitespace or control characters`},
		{name: "var with a carriage return", env: server("address: 10.0.0.1") + "config: {envFile: /etc/web/env, vars: {A: \"x\\ry\"}}\n", want: `config.vars.A: a value cannot hold control characters other than tab`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := tt.app
			if app == "" {
				app = validApp
			}
			_, err := Load(files("e.yaml", tt.env, "a.yaml", app))
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("got %v, want no error", err)
			case tt.want != "" && err == nil:
				t.Fatalf("accepted, want %q", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
}
