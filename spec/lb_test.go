package spec

import (
	"strings"
	"testing"
	"time"
)

const lbEnv = `kind: Environment
name: production
loadBalancer: {type: haproxy, address: /run/haproxy/admin.sock, backend: web}
servers:
  - {name: web-1, groups: [web, blue]}
  - {name: web-2, groups: [web, green], lbName: w2}
`

func TestLoadStrategies(t *testing.T) {
	d, err := Load(files("e.yaml", lbEnv, "a.yaml", validApp, "r.yaml", validRelease+"strategy: rolling\nrolling: {batch: 50%, pause: 2s}\n"))
	if err != nil {
		t.Fatal(err)
	}
	r := d.Releases[0]
	if r.Rolling.Batch != (Amount{N: 50, Percent: true}) || r.Rolling.MaxUnavailable != r.Rolling.Batch ||
		r.Rolling.DrainTimeout != DefaultDrainTimeout || r.Rolling.Pause != 2*time.Second || r.Rolling.MaxFailures != 0 {
		t.Errorf("rolling options: %+v", r.Rolling)
	}
	if n := r.Rolling.Batch.Of(3); n != 2 {
		t.Errorf("50%% of 3 is %d, want 2 (rounded up)", n)
	}
	env := d.Environment("production")
	if env.LoadBalancer.Timeout != DefaultLBTimeout || env.Servers[1].LB() != "w2" || env.Servers[0].LB() != "web-1" {
		t.Errorf("load balancer: %+v, names %s %s", env.LoadBalancer, env.Servers[0].LB(), env.Servers[1].LB())
	}
	if _, err := Load(files("e.yaml", lbEnv, "a.yaml", validApp, "r.yaml", validRelease+"strategy: parallel\n")); err != nil {
		t.Errorf("parallel: %v", err)
	}
}

func TestLoadStrategyErrors(t *testing.T) {
	tests := []struct {
		name string
		env  string
		rel  string
		want []string
	}{
		{
			name: "rolling without a load balancer",
			env:  validEnv,
			rel:  "strategy: rolling\n",
			want: []string{`r.yaml:5: strategy rolling needs a loadBalancer in environment "production" (e.yaml:1)`},
		},
		{
			name: "unknown strategy",
			env:  lbEnv,
			rel:  "strategy: canary\n",
			want: []string{`r.yaml:5: unknown strategy "canary" (want live, rolling or parallel)`},
		},
		{
			name: "options of another strategy",
			env:  lbEnv,
			rel:  "strategy: live\nrolling: {batch: 2}\n",
			want: []string{"r.yaml:6: rolling options set, but the strategy is live"},
		},
		{
			name: "knobs out of range",
			env:  lbEnv,
			rel:  "strategy: rolling\nrolling: {batch: 0%, maxUnavailable: 20000, drainTimeout: 2h, maxFailures: -1}\n",
			want: []string{"r.yaml:6: rolling.batch 0% out of range 1%..100%", "rolling.maxUnavailable 20000 out of range 1..10000",
				"rolling.drainTimeout 2h0m0s out of range", "rolling.maxFailures -1 out of range 0..10000"},
		},
		{
			name: "batch that is not a number",
			env:  lbEnv,
			rel:  "strategy: rolling\nrolling: {batch: half}\n",
			want: []string{`r.yaml:6: "half": want a count or a percentage such as 25%`},
		},
		{
			name: "parallel without both groups",
			env:  strings.Replace(lbEnv, "[web, green]", "[web]", 1),
			rel:  "strategy: parallel\n",
			want: []string{`server "web-2" is in neither group blue nor green`, "needs servers in both groups blue and green (has 1 blue, 0 green)"},
		},
		{
			name: "haproxy without address and backend, command options on haproxy",
			env:  strings.Replace(lbEnv, "{type: haproxy, address: /run/haproxy/admin.sock, backend: web}", "{type: haproxy, drain: x}", 1),
			rel:  "",
			want: []string{"e.yaml:3: loadBalancer.address is required for haproxy", "loadBalancer.backend is required for haproxy", "loadBalancer.drain is for type command, not haproxy"},
		},
		{
			name: "command load balancer without its commands",
			env:  strings.Replace(lbEnv, "{type: haproxy, address: /run/haproxy/admin.sock, backend: web}", "{type: command, drain: x}", 1),
			rel:  "",
			want: []string{"e.yaml:3: loadBalancer of type command needs drain, ready and state commands"},
		},
		{
			name: "unknown load balancer, two servers with one name there",
			env:  strings.Replace(strings.Replace(lbEnv, "type: haproxy", "type: nginx", 1), "lbName: w2", "lbName: web-1", 1),
			rel:  "",
			want: []string{`e.yaml:3: unknown loadBalancer.type "nginx" (want haproxy or command)`, `servers "web-1" and "web-2" have the same name "web-1" in the load balancer`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(files("e.yaml", tt.env, "a.yaml", validApp, "r.yaml", validRelease+tt.rel))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error text lacks %q; got:\n%s", w, err)
				}
			}
		})
	}
}

func TestLoadWindows(t *testing.T) {
	env := lbEnv + `windows:
  files:
    allow: [{cron: "0 9 * * MON-FRI", duration: 8h, timezone: Europe/Berlin}]
    deny:
      - {from: "2026-12-20T00:00:00+01:00", to: "2027-01-04T00:00:00+01:00", reason: year-end freeze}
`
	d, err := Load(files("e.yaml", env, "a.yaml", validApp, "r.yaml", validRelease))
	if err != nil {
		t.Fatal(err)
	}
	w := d.Environment("production").Windows
	if w.Files == nil || w.Database != nil {
		t.Fatalf("windows: %+v", w)
	}
	at := func(s string) time.Time { x, _ := time.Parse(time.RFC3339, s); return x }
	if !w.Files.At(at("2026-11-27T08:00:00Z")).Open || w.Files.At(at("2026-12-21T08:00:00Z")).Open {
		t.Error("the compiled windows do not open at 09:00 Berlin on a Friday and stay shut in the freeze")
	}
	bad := lbEnv + `windows:
  files:
    allow: [{cron: "0 9 * * MON-FRI", duration: 8h, timezone: Europe/Nowhere}]
  database:
    deny: [{cron: "every day"}]
`
	_, err = Load(files("e.yaml", bad, "a.yaml", validApp, "r.yaml", validRelease))
	for _, want := range []string{`e.yaml:9: windows.files.allow.0: unknown timezone "Europe/Nowhere"`, `e.yaml:11: windows.database.deny.0: cron "every day"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want %q", err, want)
		}
	}
}

func TestLoadConfigErrors(t *testing.T) {
	env := validEnv + `config:
  files:
    - {path: etc/web.conf, content: x}
    - {path: /etc/a, content: x, template: y, mode: "999"}
    - {path: /etc/b, template: "{{.Server.Nope}}"}
    - {path: /etc/c, template: "{{"}
  vars: {"bad-name": x, OK: "two\nlines"}
`
	_, err := Load(files("e.yaml", env, "a.yaml", validApp, "r.yaml", validRelease))
	for _, want := range []string{
		`config.files.0.path "etc/web.conf" must be a clean absolute path`,
		"config.files.1: set exactly one of content and template",
		`config.files.1.mode "999": want octal`,
		`config.files.3.template: template: /etc/c:1: unclosed action`,
		"config.vars needs config.envFile",
		`config.vars: invalid name "bad-name"`,
		"config.vars.OK: a value cannot hold a newline",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error text lacks %q; got:\n%v", want, err)
		}
	}
	ok := validEnv + "config:\n  files: [{path: /etc/web/a.conf, content: x}]\n  envFile: /srv/other/env\n"
	d, err := Load(files("e.yaml", ok, "a.yaml", validApp, "r.yaml", validRelease))
	if err != nil {
		t.Fatal(err)
	}
	err = CheckRoots(d, []string{"/etc/web"})
	if err == nil || !strings.Contains(err.Error(), `e.yaml:11: config.envFile "/srv/other/env" is outside the roots of environmentFiles in gitfleet.yaml (/etc/web)`) {
		t.Errorf("roots: got %v", err)
	}
	if err := CheckRoots(d, []string{"/etc/web", "/srv/other"}); err != nil {
		t.Errorf("inside the roots: %v", err)
	}
	// A root is a directory: a managed file cannot be the root itself.
	if err := CheckRoots(d, []string{"/etc/web/a.conf", "/srv/other"}); err == nil || !strings.Contains(err.Error(), `"/etc/web/a.conf" is outside the roots`) {
		t.Errorf("a managed file equal to a root: got %v", err)
	}
	// <root>/.gitfleet holds the environment lane's records.
	reserved := validEnv + "config:\n  files: [{path: /etc/web/.gitfleet/environment-prod.json, content: x}]\n"
	d, err = Load(files("e.yaml", reserved, "a.yaml", validApp, "r.yaml", validRelease))
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckRoots(d, []string{"/etc/web"}); err == nil || !strings.Contains(err.Error(), `"/etc/web/.gitfleet/environment-prod.json" is in /etc/web/.gitfleet, where gitfleet keeps the records of the environment lane`) {
		t.Errorf("a managed file among the records: got %v", err)
	}
}
