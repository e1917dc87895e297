package packaging

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// unitRoot is a file system root for systemd-analyze --root: the .deb
// extracted (so ExecStart's binary is there, at the package's path) and
// this machine's system units (the targets the unit is ordered after).
func unitRoot(t *testing.T, b *built) string {
	t.Helper()
	root := t.TempDir()
	output(t, "dpkg-deb", "-x", b.deb, root)
	units := filepath.Join(root, filepath.Dir(UnitPath))
	if _, err := os.Stat("/usr/lib/systemd/system/multi-user.target"); err != nil {
		t.Fatalf("no system units on this machine to verify against: %v", err)
	}
	output(t, "cp", "-a", "--no-clobber", "/usr/lib/systemd/system/.", units)
	return root
}

// analyze runs systemd-analyze and returns its exit status and everything
// it printed.
func analyze(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command("systemd-analyze", args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String()
	} else if err != nil {
		t.Fatalf("systemd-analyze: %v", err)
	}
	return 0, out.String()
}

// TestUnitPassesSystemdAnalyzeVerify verifies the packaged unit with the
// packaged binary in place. systemd-analyze verify runs without a running
// systemd, so it works in a container; it only warns (exit 0) about
// unknown keys and bad values, so any output fails the test.
func TestUnitPassesSystemdAnalyzeVerify(t *testing.T) {
	need(t, "dpkg-deb", "dpkg")
	need(t, "systemd-analyze", "systemd")
	root := unitRoot(t, fixture(t))

	code, out := analyze(t, "verify", "--man=no", "--root="+root, filepath.Base(UnitPath))
	if code != 0 || strings.TrimSpace(out) != "" {
		t.Errorf("systemd-analyze verify gitfleet.service: exit %d\n%s", code, out)
	}

	// The same check must see a broken unit: a bad value, an unknown key,
	// a binary that is not there.
	unit, err := os.ReadFile(filepath.Join(root, UnitPath))
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(unit), "ProtectSystem=strict", "ProtectSystem=bogus\nProtectSytem=strict", 1)
	broken = strings.Replace(broken, "ExecStart="+BinaryPath, "ExecStart=/usr/bin/gitfleet-missing", 1)
	if err := os.WriteFile(filepath.Join(root, filepath.Dir(UnitPath), "gitfleet-broken.service"), []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out = analyze(t, "verify", "--man=no", "--root="+root, "gitfleet-broken.service")
	for _, want := range []string{"bogus", "ProtectSytem", "gitfleet-missing"} {
		if !strings.Contains(out, want) {
			t.Errorf("systemd-analyze verify of a broken unit (exit %d) does not mention %q:\n%s", code, want, out)
		}
	}

	// Documentation= names man pages the package installs.
	for _, m := range regexp.MustCompile(`man:([a-z-]+)\(1\)`).FindAllStringSubmatch(string(unit), -1) {
		if _, err := os.Stat(filepath.Join(root, ManDir, m[1]+".1.gz")); err != nil {
			t.Errorf("Documentation=%s: the package has no such man page", m[0])
		}
	}
}

// TestUnitExposure asks systemd-analyze security (offline) how exposed the
// service is: 0 is a fully sandboxed service, 10 an unsandboxed one; up to
// 2.0 is what the hardening of gitfleet.service promises.
func TestUnitExposure(t *testing.T) {
	need(t, "dpkg-deb", "dpkg")
	need(t, "systemd-analyze", "systemd")
	root := unitRoot(t, fixture(t))
	code, out := analyze(t, "security", "--offline=yes", "--root="+root, filepath.Base(UnitPath))
	m := regexp.MustCompile(`Overall exposure level for gitfleet.service: ([0-9.]+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("systemd-analyze security: exit %d, no exposure level in:\n%s", code, out)
	}
	level, _ := strconv.ParseFloat(m[1], 64)
	t.Logf("systemd-analyze security --offline=yes gitfleet.service: exposure %.1f", level)
	if level > 2.0 {
		t.Errorf("exposure level %.1f, want at most 2.0:\n%s", level, out)
	}
}
