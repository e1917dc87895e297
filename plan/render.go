package plan

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gitfleet/gitfleet/fleet"
)

// WriteText prints the plan for people: every Release with its standing,
// the server steps of every change, then servers that need attention.
func (p *Plan) WriteText(w io.Writer) error {
	ew := &errWriter{w: w}
	fmt.Fprintf(ew, "revision %s (%s)\n", fleet.ShortRevision(p.Revision), p.Origin)
	changes := map[string]*Change{}
	for _, c := range p.Changes {
		if c.Lane == LaneFiles {
			changes[c.Key().String()] = c
		}
	}
	for _, c := range p.Changes {
		if c.Lane != LaneDatabase {
			continue
		}
		fmt.Fprintf(ew, "\n%s %s: database %s (lane database)\n  %s\n", c.Key(), c.Version, c.To, c.Reason)
		if c.Warning != "" {
			fmt.Fprintf(ew, "  WARNING %s\n", c.Warning)
		}
		if c.Blocked != "" {
			fmt.Fprintf(ew, "  blocked: %s\n", c.Blocked)
		}
		if w := c.Wait; w != nil {
			fmt.Fprintf(ew, "  waits for its window: %s\n", w.Why)
		}
		tw := tabwriter.NewWriter(ew, 0, 4, 2, ' ', 0)
		for _, s := range c.DB {
			irr := ""
			if s.Irreversible {
				irr = "irreversible"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", s.ID, s.What, irr)
		}
		tw.Flush()
	}
	for _, c := range p.Changes {
		if c.Lane != LaneEnvironment {
			continue
		}
		fmt.Fprintf(ew, "\n%s environment config %s (lane environment)\n  %s\n", c.Environment, c.To, c.Reason)
		if w := c.Wait; w != nil {
			fmt.Fprintf(ew, "  waits for its window: %s\n", w.Why)
		}
		tw := tabwriter.NewWriter(ew, 0, 4, 2, ' ', 0)
		for _, s := range c.Servers {
			fmt.Fprintf(tw, "  %s\twrite %s\n", s.Server, strings.Join(s.Files, ", "))
		}
		tw.Flush()
	}
	for _, st := range p.Status {
		key := st.Environment + "/" + st.App
		c := changes[key]
		if c == nil {
			fmt.Fprintf(ew, "\n%s %s: in sync on %d of %d servers%s\n", key, st.Version, st.Counts[InSync], len(st.Servers), attention(st))
			continue
		}
		fmt.Fprintf(ew, "\n%s %s: %s rollout of %s (lane %s)%s\n  %s\n", key, st.Version, c.Strategy, c.To, c.Lane, attention(st), c.Reason)
		if w := c.Wait; w != nil && w.Order {
			fmt.Fprintf(ew, "  waits: %s (staging goes ahead)\n", w.Why)
		} else if w != nil {
			next := "no opening within two years"
			if !w.Next.IsZero() {
				next = "next opening " + w.Next.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(ew, "  waits for its window: %s; %s (staging goes ahead)\n", w.Why, next)
		}
		for i, b := range c.Batches {
			fmt.Fprintf(ew, "  batch %d: %s\n", i+1, strings.Join(b, ", "))
		}
		if sw := c.Switch; sw != nil {
			fmt.Fprintf(ew, "  switch %s: %s in", switchText(sw), strings.Join(sw.Servers, ", "))
			if len(sw.Old) > 0 && sw.From != "" {
				fmt.Fprintf(ew, ", %s out (kept on their release for a rollback)", strings.Join(sw.Old, ", "))
			}
			fmt.Fprintln(ew)
		}
		tw := tabwriter.NewWriter(ew, 0, 4, 2, ' ', 0)
		for _, s := range c.Servers {
			from := s.From
			if from == "" {
				from = "(none)"
			}
			reason := s.Reason
			if f := s.LastFailure; f != nil {
				reason += fmt.Sprintf("; last attempt failed at %s %s: %s", f.Step, f.At.UTC().Format(time.RFC3339), oneLine(f.Err))
			}
			to := "→ " + c.To
			if s.Restore || s.TakeOut {
				to = "(stays)"
			}
			fmt.Fprintf(tw, "  %s\t%s %s\t%s\t%s\n", s.Server, from, to, steps(s), reason)
		}
		tw.Flush()
	}
	var notes []string
	for _, st := range p.Status {
		if st.Note != "" {
			notes = append(notes, fmt.Sprintf("  %s/%s\t(all)\theld: %s", st.Environment, st.App, st.Note))
		}
		for _, s := range st.Servers {
			switch {
			case s.State == Unreachable:
				notes = append(notes, fmt.Sprintf("  %s/%s\t%s\tunreachable: %s", st.Environment, st.App, s.Server, s.Reason))
			case s.Held:
				notes = append(notes, fmt.Sprintf("  %s/%s\t%s\theld: %s", st.Environment, st.App, s.Server, s.Reason))
			}
		}
	}
	if len(notes) > 0 {
		fmt.Fprintln(ew, "\nneeds attention:")
		tw := tabwriter.NewWriter(ew, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, strings.Join(notes, "\n"))
		tw.Flush()
	}
	writeUnmanaged(ew, p.Unmanaged)
	fmt.Fprintln(ew)
	var summary []string
	if n := len(p.Changes); n > 0 {
		summary = append(summary, fmt.Sprintf("%d %s pending, %d server %s", n, plural(n, "change", "changes"), p.Pending(), plural(p.Pending(), "step", "steps")))
	}
	if n := p.Unmanages(); n > 0 {
		summary = append(summary, fmt.Sprintf("%d %s no longer managed", n, plural(n, "server", "servers")))
	}
	if len(summary) == 0 {
		summary = append(summary, "nothing to do")
	}
	fmt.Fprintln(ew, strings.Join(summary, "; "))
	return ew.err
}

// writeUnmanaged prints the servers the plan's desired state leaves.
func writeUnmanaged(w io.Writer, u *Unmanaged) {
	if u == nil {
		return
	}
	if len(u.Servers) > 0 {
		fmt.Fprintf(w, "\nno longer managed (named by the daemon's desired state at %s, not by this one; left as they are, no longer observed or deployed to):\n", fleet.ShortRevision(u.Since))
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, s := range u.Servers {
			fmt.Fprintf(tw, "  %s\t%s\n", s.Environment, s.Server)
		}
		tw.Flush()
	}
	if u.Note != "" {
		fmt.Fprintf(w, "\nno Environment: this desired state manages no server; %s\n", u.Note)
	}
}

// Unmanages is how many servers the plan's desired state no longer
// manages: a change, though nothing is done on them.
func (p *Plan) Unmanages() int {
	if p.Unmanaged == nil {
		return 0
	}
	return len(p.Unmanaged.Servers)
}

// errWriter keeps the first write error so that printing code stays linear.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(b []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(b)
	e.err = err
	return n, err
}

func attention(st *AppStatus) string {
	var parts []string
	if n := st.Counts[Unreachable]; n > 0 {
		parts = append(parts, fmt.Sprintf("%d unreachable", n))
	}
	held := 0
	for _, s := range st.Servers {
		if s.Held {
			held++
		}
	}
	if held > 0 {
		parts = append(parts, fmt.Sprintf("%d held", held))
	}
	if st.Note != "" {
		parts = append(parts, "held")
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func steps(s *ServerChange) string {
	switch {
	case s.Restore:
		return "check, ready"
	case s.TakeOut:
		return "drain, maint"
	case s.Stage && s.Activate:
		return "stage, activate"
	case s.Stage:
		return "stage"
	case s.Activate:
		return "activate"
	}
	return "-"
}

// oneLine keeps an error on its line of the table, bounded.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
