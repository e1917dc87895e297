// Package testenv is the one rule every test harness follows when a real
// part (sshd, HAProxy, PostgreSQL, git, promtool, ...) is missing: skip on a
// developer's machine, fail under CI (CI=true), where every test must run.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// CI reports whether the tests run under CI (CI=true), where nothing may
// be skipped for want of a part.
func CI() bool { return os.Getenv("CI") == "true" }

// Skip skips the test with why, or fails it under CI.
func Skip(t testing.TB, why string) {
	t.Helper()
	if CI() {
		t.Fatal(why)
		return
	}
	t.Skip(why)
}

// NeedTools skips (or, under CI, fails) the test unless every tool is on
// PATH; why says what the tools are for.
func NeedTools(t testing.TB, why string, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			Skip(t, tool+" is needed "+why)
			return
		}
	}
}

// NeedRoot skips (or, under CI, fails) the test unless it runs as root.
func NeedRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		Skip(t, why)
	}
}
