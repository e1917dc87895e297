package testenv

import (
	"testing"
)

// fakeTB records what Skip does instead of stopping the test.
type fakeTB struct {
	testing.TB
	fatal, skipped string
}

func (f *fakeTB) Helper()              {}
func (f *fakeTB) Fatal(a ...any)       { f.fatal = a[0].(string) }
func (f *fakeTB) Skip(a ...any)        { f.skipped = a[0].(string) }
func (f *fakeTB) Skipf(string, ...any) {}

func TestSkipFailsUnderCI(t *testing.T) {
	t.Setenv("CI", "true")
	f := &fakeTB{}
	Skip(f, "sshd is missing")
	if f.fatal != "sshd is missing" || f.skipped != "" {
		t.Errorf("under CI: fatal %q, skipped %q; want a failure", f.fatal, f.skipped)
	}
}

func TestSkipSkipsOutsideCI(t *testing.T) {
	t.Setenv("CI", "")
	f := &fakeTB{}
	Skip(f, "sshd is missing")
	if f.skipped != "sshd is missing" || f.fatal != "" {
		t.Errorf("outside CI: fatal %q, skipped %q; want a skip", f.fatal, f.skipped)
	}
}

func TestNeedToolsNamesTheMissingTool(t *testing.T) {
	t.Setenv("CI", "true")
	f := &fakeTB{}
	NeedTools(f, "for nothing", "sh", "no-such-tool-gitfleet")
	if f.fatal != "no-such-tool-gitfleet is needed for nothing" {
		t.Errorf("got %q, want the missing tool named", f.fatal)
	}
}
