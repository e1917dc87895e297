package resolve

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/internal/retry"
	"github.com/gitfleet/gitfleet/source"
	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/tree"
)

// fetcher fails every fetch with err.
type fetcher struct{ err error }

func (f fetcher) Artifact(context.Context, string, string, string) (*tree.Tree, string, error) {
	return nil, "", f.err
}

func snapshot(t *testing.T, files map[string]string) *source.Snapshot {
	t.Helper()
	var entries []*tree.Entry
	for p, c := range files {
		entries = append(entries, &tree.Entry{Path: p, Kind: tree.File, Perm: 0o644, Data: []byte(c)})
	}
	tr, err := tree.New(entries)
	if err != nil {
		t.Fatal(err)
	}
	return &source.Snapshot{Revision: "r1", Tree: tr}
}

const gitApp = "kind: Environment\nname: prod\nservers: [{name: a}]\n---\nkind: App\nname: web\nartifact: {git: 'https://git.example.com/web.git'}\ndeployTo: /srv/web\n---\nkind: Release\napp: web\nenvironment: prod\nversion: v1\n"

// TestErrorsSayWhatARetryDoes: only problems of the desired state are
// invalid; an artifact that cannot be fetched is not, and is Transient
// when the remote is down and Stalling when credentials are refused.
func TestErrorsSayWhatARetryDoes(t *testing.T) {
	tests := []struct {
		name        string
		files       map[string]string
		fetch       error
		wantInvalid bool
		wantKind    retry.Kind
		wantMsg     string
	}{
		{name: "syntax error", files: map[string]string{"f.yaml": "kind: Release\napp: web\nenvironment: prod\nversion: v1\nreplicas: 3\n"},
			wantInvalid: true, wantKind: retry.KindStalling, wantMsg: `f.yaml:5: unknown field "replicas"`},
		{name: "remote down", files: map[string]string{"f.yaml": gitApp}, fetch: errors.New("dial tcp: connection refused"),
			wantKind: retry.KindTransient, wantMsg: "f.yaml:13: web v1: artifact dial tcp: connection refused"},
		{name: "credentials refused", files: map[string]string{"f.yaml": gitApp}, fetch: &source.PollError{Reason: source.ReasonAuth, Err: errors.New("authentication required")},
			wantKind: retry.KindStalling, wantMsg: "authentication required"},
		{name: "tag not found", files: map[string]string{"f.yaml": gitApp}, fetch: &source.PollError{Reason: source.ReasonNotFound, Err: fmt.Errorf("tag v1 not found in https://git.example.com/web.git")},
			wantInvalid: true, wantKind: retry.KindStalling, wantMsg: "f.yaml:13: web v1: artifact tag v1 not found"},
	}
	for _, tt := range tests {
		_, err := Resolve(context.Background(), snapshot(t, tt.files), fetcher{tt.fetch}, spec.Options{})
		if err == nil {
			t.Fatalf("%s: resolved, want an error", tt.name)
		}
		if IsInvalid(err) != tt.wantInvalid || retry.KindOf(err) != tt.wantKind || !strings.Contains(err.Error(), tt.wantMsg) {
			t.Errorf("%s: invalid %v, kind %s, %q; want invalid %v, kind %s, %q", tt.name, IsInvalid(err), retry.KindOf(err), err, tt.wantInvalid, tt.wantKind, tt.wantMsg)
		}
	}
}
