package plan

import (
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/fleet"
	"github.com/gitfleet/gitfleet/spec"
)

// windowDesired is environment prod (servers s1, s2) whose files lane may
// act on weekdays from 09:00 to 17:00 in Berlin, frozen over the year's
// end.
func windowDesired(t *testing.T) *Desired {
	t.Helper()
	sd, err := spec.Load([]spec.File{{Path: "f.yaml", Data: []byte(`
kind: Environment
name: prod
servers: [{name: s1}, {name: s2}]
windows:
  files:
    allow: [{cron: "0 9 * * MON-FRI", duration: 8h, timezone: Europe/Berlin}]
    deny: [{from: "2026-12-20T00:00:00+01:00", to: "2027-01-04T00:00:00+01:00", reason: year-end freeze}]
---
kind: App
name: web
artifact: {path: a}
deployTo: /srv/web
---
kind: Release
app: web
environment: prod
version: v2
`)}})
	if err != nil {
		t.Fatal(err)
	}
	return &Desired{Revision: rev, Spec: sd, Releases: map[spec.Key]fleet.Release{{Environment: "prod", App: "web"}: {ID: newID, Version: "v2"}}}
}

func TestPlanWindows(t *testing.T) {
	d := windowDesired(t)
	o := observed(app(&fleet.AppState{Current: oldID, Staged: []string{oldID}}), app(&fleet.AppState{Current: oldID, Staged: []string{oldID}}))
	tests := []struct {
		now      string
		wantWait string
		wantNext string
	}{
		{"2026-11-27T10:00:00Z", "", ""}, // Friday 11:00 Berlin
		{"2026-11-28T10:00:00Z", "outside the allowed windows", "2026-11-30T08:00:00Z"},
		{"2026-12-22T10:00:00Z", "frozen until 2027-01-04T00:00:00+01:00 (year-end freeze)", "2027-01-04T08:00:00Z"},
	}
	for _, tt := range tests {
		now, _ := time.Parse(time.RFC3339, tt.now)
		p := MakePlan(d, o, now)
		if len(p.Changes) != 1 {
			t.Fatalf("%s: %d changes, want 1", tt.now, len(p.Changes))
		}
		w := p.Changes[0].Wait
		switch {
		case tt.wantWait == "" && w != nil:
			t.Errorf("%s: waits (%+v), want open", tt.now, w)
		case tt.wantWait != "" && (w == nil || w.Why != tt.wantWait || w.Next.UTC().Format(time.RFC3339) != tt.wantNext):
			t.Errorf("%s: wait %+v, want %q until %s", tt.now, w, tt.wantWait, tt.wantNext)
		}
		if tt.wantNext != "" {
			if got := p.NextOpening().UTC().Format(time.RFC3339); got != tt.wantNext {
				t.Errorf("%s: next opening %s, want %s", tt.now, got, tt.wantNext)
			}
			var b strings.Builder
			p.WriteText(&b)
			if !strings.Contains(b.String(), "waits for its window: "+tt.wantWait+"; next opening "+tt.wantNext+" (staging goes ahead)") {
				t.Errorf("plan text does not say when:\n%s", b.String())
			}
		}
	}
}
