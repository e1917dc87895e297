package schedule

import (
	"strings"
	"testing"
	"time"
)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func compile(t *testing.T, p *Policy) *Policy {
	t.Helper()
	if err := p.Compile(); err != nil {
		t.Fatal(err)
	}
	return p
}

var office = &Window{Cron: "0 9 * * MON-FRI", Duration: 8 * time.Hour, TimeZone: "Europe/Berlin"}

func TestPolicyAt(t *testing.T) {
	yearEnd := &Window{From: at("2026-12-20T00:00:00+01:00"), To: at("2027-01-04T00:00:00+01:00"), Reason: "year-end freeze"}
	fridays := &Window{Cron: "0 15 * * FRI", Duration: 66 * time.Hour, TimeZone: "Europe/Berlin", Reason: "no deploys on Friday afternoons"}
	tests := []struct {
		name     string
		policy   *Policy
		t        string
		wantOpen bool
		wantWhy  string
		wantNext string
	}{
		{"no windows: any time", &Policy{}, "2026-11-28T03:00:00Z", true, "", ""},
		{"inside office hours (Berlin, winter: UTC+1)", &Policy{Allow: []*Window{office}}, "2026-11-27T08:00:00Z", true, "", ""},
		{"just before they open", &Policy{Allow: []*Window{office}}, "2026-11-27T07:59:00Z", false, "outside the allowed windows", "2026-11-27T08:00:00Z"},
		{"the end is outside", &Policy{Allow: []*Window{office}}, "2026-11-27T16:00:00Z", false, "outside the allowed windows", "2026-11-30T08:00:00Z"},
		{"weekend: Monday 09:00 Berlin", &Policy{Allow: []*Window{office}}, "2026-11-28T12:00:00Z", false, "outside the allowed windows", "2026-11-30T08:00:00Z"},
		{"the same hours in New York", &Policy{Allow: []*Window{{Cron: "0 9 * * MON-FRI", Duration: 8 * time.Hour, TimeZone: "America/New_York"}}},
			"2026-11-27T14:00:00Z", true, "", ""},
		{"New York is closed at 09:00 Berlin", &Policy{Allow: []*Window{{Cron: "0 9 * * MON-FRI", Duration: 8 * time.Hour, TimeZone: "America/New_York"}}},
			"2026-11-27T08:00:00Z", false, "outside the allowed windows", "2026-11-27T14:00:00Z"},
		{"a freeze wins over no windows", &Policy{Deny: []*Window{yearEnd}}, "2026-12-24T10:00:00Z", false,
			"frozen until 2027-01-04T00:00:00+01:00 (year-end freeze)", "2027-01-03T23:00:00Z"},
		{"a freeze wins over office hours; next is the first office hour after it", &Policy{Allow: []*Window{office}, Deny: []*Window{yearEnd}},
			"2026-12-21T09:00:00Z", false, "frozen until 2027-01-04T00:00:00+01:00 (year-end freeze)", "2027-01-04T08:00:00Z"},
		{"Friday afternoon freeze inside office hours", &Policy{Allow: []*Window{office}, Deny: []*Window{fridays}},
			"2026-11-27T15:00:00Z", false, "frozen until 2026-11-30T09:00:00+01:00 (no deploys on Friday afternoons)", "2026-11-30T08:00:00Z"},
		{"Friday morning is open", &Policy{Allow: []*Window{office}, Deny: []*Window{fridays}}, "2026-11-27T13:59:00Z", true, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := compile(t, tt.policy)
			v := p.At(at(tt.t))
			if v.Open != tt.wantOpen || v.Why != tt.wantWhy {
				t.Errorf("At(%s) = open %v, why %q; want %v, %q", tt.t, v.Open, v.Why, tt.wantOpen, tt.wantWhy)
			}
			var next string
			if !v.Next.IsZero() {
				next = v.Next.UTC().Format(time.RFC3339)
			}
			if next != tt.wantNext {
				t.Errorf("next opening %q, want %q", next, tt.wantNext)
			}
		})
	}
}

// TestDaylightSaving: a window at 09:00 Berlin for 8 hours is 08:00-16:00
// UTC in winter and 07:00-15:00 UTC in summer, across both changes.
func TestDaylightSaving(t *testing.T) {
	p := compile(t, &Policy{Allow: []*Window{{Cron: "0 9 * * *", Duration: 8 * time.Hour, TimeZone: "Europe/Berlin"}}})
	tests := []struct{ t, wantNext string }{
		{"2026-03-28T16:00:00Z", "2026-03-29T07:00:00Z"}, // spring forward in the night
		{"2026-03-29T06:59:00Z", "2026-03-29T07:00:00Z"},
		{"2026-10-24T15:00:00Z", "2026-10-25T08:00:00Z"}, // fall back in the night
	}
	for _, tt := range tests {
		if v := p.At(at(tt.t)); v.Open || v.Next.UTC().Format(time.RFC3339) != tt.wantNext {
			t.Errorf("At(%s): open %v, next %s; want closed until %s", tt.t, v.Open, v.Next.UTC().Format(time.RFC3339), tt.wantNext)
		}
	}
	// 15:30 UTC is inside the window in winter, outside in summer.
	if !p.At(at("2026-03-28T15:30:00Z")).Open || p.At(at("2026-03-29T15:30:00Z")).Open {
		t.Error("15:30 UTC: want open on March 28 (CET) and closed on March 29 (CEST)")
	}
	// A window that starts in the hour skipped in spring.
	skipped := compile(t, &Policy{Allow: []*Window{{Cron: "30 2 * * *", Duration: time.Hour, TimeZone: "Europe/Berlin"}}})
	v := skipped.At(at("2026-03-28T03:00:00Z"))
	if v.Open || v.Next.IsZero() || v.Next.Before(at("2026-03-29T00:00:00Z")) || v.Next.After(at("2026-03-30T01:30:00Z")) {
		t.Errorf("window in the skipped hour: next %s, want a time on March 29 or 30", v.Next)
	}
}

func TestNeverOpens(t *testing.T) {
	p := compile(t, &Policy{Allow: []*Window{{From: at("2026-01-01T00:00:00Z"), To: at("2026-02-01T00:00:00Z")}}})
	if v := p.At(at("2026-11-28T00:00:00Z")); v.Open || !v.Next.IsZero() {
		t.Errorf("a window in the past: %+v, want closed with no next opening", v)
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		w    Window
		want string
	}{
		{Window{Cron: "0 25 * * *", Duration: time.Hour}, `cron "0 25 * * *"`},
		{Window{Cron: "0 9 * * *", Duration: time.Hour, TimeZone: "Mars/Olympus"}, `unknown timezone "Mars/Olympus"`},
		{Window{Cron: "0 9 * * *", Duration: time.Second}, "duration 1s out of range"},
		{Window{Cron: "0 9 * * *"}, "duration 0s out of range"},
		{Window{From: at("2026-02-01T00:00:00Z"), To: at("2026-01-01T00:00:00Z")}, "is not after from"},
		{Window{From: at("2026-01-01T00:00:00Z")}, "needs both from and to"},
		{Window{Cron: "0 9 * * *", Duration: time.Hour, From: at("2026-01-01T00:00:00Z")}, "not both"},
		{Window{}, "set cron with duration, or from and to"},
	}
	for _, tt := range tests {
		err := tt.w.Compile()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: got %v, want %q", tt.w, err, tt.want)
		}
	}
}
