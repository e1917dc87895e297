package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestVersionPrintsCommitAndBuildDate(t *testing.T) {
	var out, errb bytes.Buffer
	if code := execute([]string{"version"}, &out, &errb); code != 0 {
		t.Fatalf("version: exit %d, %s", code, errb.String())
	}
	want := "gitfleet dev (" + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + ")\ncommit: unknown\nbuilt: unknown\n"
	if out.String() != want {
		t.Errorf("version:\n%s\nwant:\n%s", out.String(), want)
	}

	out.Reset()
	if code := execute([]string{"version", "-o", "json"}, &out, &errb); code != 0 {
		t.Fatalf("version -o json: exit %d, %s", code, errb.String())
	}
	var got buildInfo
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("version -o json: %v\n%s", err, out.String())
	}
	if got != currentBuild() || got.Version != "dev" || got.Commit != "unknown" || got.BuildDate != "unknown" {
		t.Errorf("version -o json: %+v", got)
	}

	errb.Reset()
	if code := execute([]string{"version", "-o", "yaml"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), `-o "yaml": want text or json`) {
		t.Errorf("version -o yaml: exit %d, stderr %q", code, errb.String())
	}
}

// TestManWritesAPagePerCommand checks the hidden man command the packages
// are built with: a page per visible command, none for itself, and the
// descriptions' <placeholders> kept.
func TestManWritesAPagePerCommand(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if code := execute([]string{"man", dir}, &out, &errb); code != 0 {
		t.Fatalf("man: exit %d, %s", code, errb.String())
	}
	for _, name := range []string{"gitfleet", "gitfleet-run", "gitfleet-plan", "gitfleet-validate", "gitfleet-version"} {
		page, err := os.ReadFile(filepath.Join(dir, name+".1"))
		if err != nil {
			t.Errorf("no man page %s.1: %v", name, err)
			continue
		}
		if want := `.TH "` + strings.ToUpper(name) + `" "1"`; !strings.Contains(string(page), want) {
			t.Errorf("%s.1 has no %q", name, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "gitfleet-man.1")); err == nil {
		t.Errorf("the hidden man command has a page")
	}
	run, _ := os.ReadFile(filepath.Join(dir, "gitfleet-run.1"))
	if !strings.Contains(string(run), "<stateDir>/api.token") {
		t.Errorf("gitfleet-run.1 lost <stateDir> of its description")
	}
	if strings.Contains(string(run), "spf13/cobra") {
		t.Errorf("gitfleet-run.1 carries cobra's auto-generated tag")
	}
	if out.Len()+errb.Len() > 0 {
		t.Errorf("man printed %q %q; want nothing", out.String(), errb.String())
	}
}
