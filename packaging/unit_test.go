package packaging

import (
	"path"
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/config"
)

func shippedFile(t *testing.T, name string) []byte {
	t.Helper()
	data, err := Shipped(name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestShippedUnitPassesLint(t *testing.T) {
	if ps := LintUnit(shippedFile(t, UnitFile), BinaryPath, "gitfleet", "gitfleet"); ps != nil {
		t.Errorf("the shipped unit has problems: %v", ps)
	}
}

// TestLintUnitFindsEachProblem breaks the shipped unit one key at a time:
// the lint must name the key each time.
func TestLintUnitFindsEachProblem(t *testing.T) {
	unit := string(shippedFile(t, UnitFile))
	tests := []struct {
		name     string
		old, new string
		want     string
	}{
		{"binary elsewhere", "ExecStart=/usr/bin/gitfleet run", "ExecStart=/usr/local/bin/gitfleet run", "ExecStart=/usr/local/bin/gitfleet"},
		{"not the daemon", "ExecStart=/usr/bin/gitfleet run", "ExecStart=/usr/bin/gitfleet plan", "ExecStart="},
		{"root", "User=gitfleet", "User=root", "User=root"},
		{"no user", "User=gitfleet\n", "", "User is missing"},
		{"no state directory", "StateDirectory=gitfleet\n", "", "StateDirectory is missing"},
		{"ProtectSystem full", "ProtectSystem=strict", "ProtectSystem=full", "ProtectSystem=full"},
		{"no ProtectSystem", "ProtectSystem=strict\n", "", "ProtectSystem is missing"},
		{"new privileges", "NoNewPrivileges=yes", "NoNewPrivileges=no", "NoNewPrivileges=no"},
		{"shared tmp", "PrivateTmp=yes\n", "", "PrivateTmp is missing"},
		{"home", "ProtectHome=yes", "ProtectHome=no", "ProtectHome=no"},
		{"no restart", "Restart=on-failure", "Restart=no", "Restart=no"},
		{"short stop", "TimeoutStopSec=5min", "TimeoutStopSec=30s", "TimeoutStopSec=30s"},
		{"unreadable stop", "TimeoutStopSec=5min", "TimeoutStopSec=5 fortnights", "TimeoutStopSec=5 fortnights"},
		{"children signalled", "KillMode=mixed", "KillMode=control-group", "KillMode=control-group"},
		{"wrong signal", "KillSignal=SIGTERM", "KillSignal=SIGKILL", "KillSignal=SIGKILL"},
		{"no second SIGTERM", "TimeoutStopFailureMode=abort", "TimeoutStopFailureMode=kill", "TimeoutStopFailureMode=kill"},
		{"abort dumps core", "WatchdogSignal=SIGTERM", "WatchdogSignal=SIGABRT", "WatchdogSignal=SIGABRT"},
		{"not installable", "WantedBy=multi-user.target\n", "", "WantedBy is missing"},
	}
	for _, tt := range tests {
		if !strings.Contains(unit, "\n"+tt.old) {
			t.Fatalf("%s: the shipped unit has no %q", tt.name, tt.old)
		}
		// Keys start lines; the comments mention some of them too.
		broken := strings.Replace(unit, "\n"+tt.old, "\n"+tt.new, 1)
		ps := LintUnit([]byte(broken), BinaryPath, "gitfleet", "gitfleet")
		if len(ps) != 1 || !strings.Contains(ps[0].String(), tt.want) {
			t.Errorf("%s: got %v, want one problem naming %q", tt.name, ps, tt.want)
		}
	}
}

func TestLintUnitSaysWhere(t *testing.T) {
	unit := "[Service]\nExecStart=/usr/bin/gitfleet run\n# a comment\nProtectSystem=\\\n  full\n"
	var found bool
	for _, p := range LintUnit([]byte(unit), BinaryPath, "gitfleet", "gitfleet") {
		if p.String() == "gitfleet.service:4: ProtectSystem=full: want strict: the whole file system read-only but the state directory" {
			found = true
		}
	}
	if !found {
		t.Errorf("no problem at gitfleet.service:4 for a continued ProtectSystem line: %v", LintUnit([]byte(unit), BinaryPath, "gitfleet", "gitfleet"))
	}
}

func TestParseTimespan(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{in: "300", want: 5 * time.Minute},
		{in: "5min", want: 5 * time.Minute},
		{in: "1h 30min", want: 90 * time.Minute},
		{in: "2min30s", want: 150 * time.Second},
		{in: "1.5s", want: 1500 * time.Millisecond},
		{in: "infinity", want: 1<<63 - 1},
		{in: "", err: true},
		{in: "5 fortnights", err: true},
		{in: "min", err: true},
	}
	for _, tt := range tests {
		got, err := parseTimespan(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("parseTimespan(%q) = %v, %v; want %v (error %v)", tt.in, got, err, tt.want, tt.err)
		}
	}
}

// TestShippedFilesAgree checks that the unit, the sysusers.d entry and the
// configuration name the same user and directories.
func TestShippedFilesAgree(t *testing.T) {
	var user, home, shell string
	for _, line := range strings.Split(string(shippedFile(t, SysusersFile)), "\n") {
		if f := strings.Fields(line); len(f) >= 6 && f[0] == "u" {
			user, home, shell = f[1], f[len(f)-2], f[len(f)-1]
		}
	}
	if user != "gitfleet" || home != "/var/lib/gitfleet" || shell != "/usr/sbin/nologin" {
		t.Errorf("sysusers.d entry: user %q, home %q, shell %q; want gitfleet, /var/lib/gitfleet (the StateDirectory), /usr/sbin/nologin", user, home, shell)
	}
	keys := parseUnit(shippedFile(t, UnitFile))
	if got := keys["Service.User"].value; got != user {
		t.Errorf("unit User=%s, sysusers.d creates %s", got, user)
	}
	if got := "/var/lib/" + keys["Service.StateDirectory"].value; got != home {
		t.Errorf("unit state directory %s, the user's home %s", got, home)
	}
	if got := keys["Service.ExecStart"].value; !strings.HasSuffix(got, " --config "+ConfigPath) {
		t.Errorf("unit ExecStart=%s does not read %s", got, ConfigPath)
	}
	c, err := config.Parse(ConfigPath, shippedFile(t, ConfigFile))
	if err != nil {
		t.Fatalf("the shipped configuration does not load:\n%v", err)
	}
	if !strings.HasPrefix(c.StateDir, home+"/") {
		t.Errorf("stateDir %s is outside %s, the only directory the service may write", c.StateDir, home)
	}
}

// TestShippedConfigLoads loads the shipped gitfleet.yaml the way gitfleet
// run and gitfleet validate --config do, and checks what it promises: SSH
// with keys under /etc/gitfleet/ssh, a loopback listen address.
func TestShippedConfigLoads(t *testing.T) {
	c, err := config.Parse(ConfigPath, shippedFile(t, ConfigFile))
	if err != nil {
		t.Fatalf("config.Parse(%s): %v", ConfigPath, err)
	}
	if c.Transport.Type != "ssh" || c.Transport.SSH == nil {
		t.Fatalf("transport %q, want ssh", c.Transport.Type)
	}
	for _, f := range []string{c.Transport.SSH.KeyFile, c.Transport.SSH.KnownHosts} {
		if path.Dir(f) != "/etc/gitfleet/ssh" {
			t.Errorf("%s is not in /etc/gitfleet/ssh, the directory postinstall makes for keys", f)
		}
	}
	if c.Source.Git == nil || c.Source.Git.Branch == "" {
		t.Errorf("source: want a git source on a branch, got %+v", c.Source)
	}
	if err := c.CheckListen(c.Listen); err != nil {
		t.Errorf("listen %s: %v", c.Listen, err)
	}
	if c.StateDir != "/var/lib/gitfleet/state" {
		t.Errorf("stateDir %s, want /var/lib/gitfleet/state", c.StateDir)
	}
}
