package store

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

func TestRecordListRetentionAndRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.db")
	s, err := Open(path, Retention{MaxEvents: 5, MaxAge: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	for i := 0; i < 7; i++ {
		app := "web"
		if i%2 == 1 {
			app = "api"
		}
		if _, err := s.Record(Event{Kind: "rollout", Environment: "prod", App: app, Revision: fmt.Sprintf("r%d", i), Start: t0, End: t0.Add(time.Duration(i) * time.Minute), Result: "success"}); err != nil {
			t.Fatal(err)
		}
	}
	all, _ := s.List(Filter{})
	if len(all) != 5 || all[0].Revision != "r6" || all[4].Revision != "r2" {
		t.Fatalf("after 7 events with MaxEvents 5: %d events, newest %s, oldest %s", len(all), all[0].Revision, all[len(all)-1].Revision)
	}
	web, _ := s.List(Filter{App: "web", Limit: 2})
	if len(web) != 2 || web[0].Revision != "r6" || web[1].Revision != "r4" {
		t.Errorf("web, limit 2: %+v", web)
	}
	s.Close()

	// A restart keeps the history; an event two days later drops the old.
	s, err = Open(path, Retention{MaxEvents: 5, MaxAge: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	id, _ := s.Record(Event{Kind: "database", Environment: "prod", App: "web", Start: t0.Add(48 * time.Hour), End: t0.Add(48 * time.Hour), Result: "failure", Error: "boom"})
	all, _ = s.List(Filter{Environment: "prod"})
	if len(all) != 1 || all[0].ID != id || all[0].Error != "boom" {
		t.Errorf("after a restart and the age limit: %+v", all)
	}
	if id != 8 {
		t.Errorf("IDs continue across restarts: got %d, want 8", id)
	}
}
