package spec

import (
	"strings"
	"testing"
)

// twoEnvs is staging (s.yaml) and production (p.yaml), one server each at
// the given addresses, with extra lines for each Environment, the Apps
// web (/srv/web) and api (/srv/api), and the Releases named.
func twoEnvs(stagingAddr, prodAddr, stagingExtra, prodExtra string, releases ...string) []File {
	fs := files(
		"s.yaml", "kind: Environment\nname: staging\nservers:\n  - {name: web-1.staging, address: '"+stagingAddr+"'}\n"+stagingExtra,
		"p.yaml", "kind: Environment\nname: production\nservers:\n  - {name: web-1.prod, address: '"+prodAddr+"'}\n"+prodExtra,
		"a.yaml", validApp+"---\n"+strings.Replace(strings.Replace(validApp, "name: web", "name: api", 1), "/srv/web", "/srv/api", 1),
	)
	var rel strings.Builder
	for _, r := range releases {
		app, env, _ := strings.Cut(r, "@")
		rel.WriteString("---\nkind: Release\napp: " + app + "\nenvironment: " + env + "\nversion: v1\n")
	}
	return append(fs, File{Path: "r.yaml", Data: []byte(rel.String())})
}

func TestTwoEnvironmentsClaimingOneMachine(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		fs   []File
		want string // "" for no error
	}{
		{
			name: "same address, same app",
			fs:   twoEnvs("10.0.0.1:22", "10.0.0.1:22", "", "", "web@staging", "web@production"),
			want: `s.yaml:4: server "web-1.staging" of environment "staging" is the machine 10.0.0.1:22 of server "web-1.prod" of environment "production" (p.yaml:4), and both write /srv/web: deployTo of app "web" there and deployTo of app "web" here`,
		},
		{
			name: "the default port is the port",
			fs:   twoEnvs("10.0.0.1", "10.0.0.1:22", "", "", "web@staging", "web@production"),
			want: `is the machine 10.0.0.1:22 of server "web-1.prod"`,
		},
		{
			name: "transport.ssh.port is the default port",
			opts: Options{SSHPort: 2222},
			fs:   twoEnvs("db1.example.com", "DB1.example.com:2222", "", "", "web@staging", "web@production"),
			want: `is the machine db1.example.com:2222`,
		},
		{
			name: "an Environment's ssh.port",
			fs:   twoEnvs("10.0.0.1", "10.0.0.1:2200", "ssh: {port: 2200}\n", "", "web@staging", "web@production"),
			want: `is the machine 10.0.0.1:2200`,
		},
		{
			name: "IPv6 written two ways",
			fs:   twoEnvs("[2001:db8::1]:22", "2001:0db8:0:0:0:0:0:1", "", "", "web@staging", "web@production"),
			want: `is the machine [2001:db8::1]:22`,
		},
		{
			name: "the same managed file",
			fs:   twoEnvs("10.0.0.1", "10.0.0.1", "config: {files: [{path: /etc/web/app.conf, content: a}]}\n", "config: {files: [{path: /etc/web/app.conf, content: b}]}\n", "web@staging", "api@production"),
			want: `both write /etc/web/app.conf: a managed file there and a managed file here`,
		},
		{
			name: "a managed file inside the other's deployTo",
			fs:   twoEnvs("10.0.0.1", "10.0.0.1", "", "config: {files: [{path: /srv/web/shared/app.conf, content: b}]}\n", "web@staging", "api@production"),
			want: `both write /srv/web/shared/app.conf: a managed file there and deployTo of app "web" here`,
		},
		{
			name: "disjoint deployTo on one machine",
			fs:   twoEnvs("10.0.0.1", "10.0.0.1", "", "", "web@staging", "api@production"),
		},
		{
			name: "one app not released in one environment",
			fs:   twoEnvs("10.0.0.1", "10.0.0.1", "", "", "web@staging", "api@staging"),
		},
		{
			name: "different ports are different machines",
			fs:   twoEnvs("10.0.0.1:22", "10.0.0.1:2222", "", "", "web@staging", "web@production"),
		},
		{
			name: "the local transport gives every server its own directory",
			opts: Options{LocalTransport: true},
			fs:   twoEnvs("10.0.0.1", "10.0.0.1", "", "", "web@staging", "web@production"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.opts.Load(tt.fs)
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

// Two entries of one Environment for one machine are held to the same
// rule: an app released to both writes the same directory twice.
func TestOneEnvironmentListingAMachineTwice(t *testing.T) {
	env := "kind: Environment\nname: production\nservers:\n  - {name: a, address: 10.0.0.1}\n  - {name: b, address: 10.0.0.1, groups: [db]}\n"
	_, err := Load(files("e.yaml", env, "a.yaml", validApp, "r.yaml", validRelease))
	if err == nil || !strings.Contains(err.Error(), `e.yaml:5: server "b" of environment "production" is the machine 10.0.0.1:22 of server "a" of environment "production" (e.yaml:4)`) {
		t.Fatalf("got %v", err)
	}
	// With groups that send the app to one of the two, nothing is written twice.
	env = strings.Replace(env, "{name: a, address: 10.0.0.1}", "{name: a, address: 10.0.0.1, groups: [web]}", 1)
	if _, err := Load(files("e.yaml", env, "a.yaml", validApp+"groups: [web]\n", "r.yaml", validRelease)); err != nil {
		t.Fatalf("an app on one of the two entries: %v", err)
	}
}
