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
		switch c.Lane {
		case LaneFiles:
			changes[c.Key().String()] = c
		case LaneDatabase:
			writeDatabase(ew, c)
		}
	}
	for _, c := range p.Changes {
		if c.Lane == LaneEnvironment {
			writeEnvironment(ew, c)
		}
	}
	for _, st := range p.Status {
		writeRelease(ew, st, changes[st.Environment+"/"+st.App])
	}
	writeAttention(ew, p.Status, p.ConfigHeld)
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

// writeDatabase prints a change of the database lane.
func writeDatabase(w io.Writer, c *Change) {
	fmt.Fprintf(w, "\n%s %s: database %s (lane database)\n  %s\n", c.Key(), c.Version, c.To, c.Reason)
	if c.Warning != "" {
		fmt.Fprintf(w, "  WARNING %s\n", c.Warning)
	}
	if c.Blocked != "" {
		fmt.Fprintf(w, "  blocked: %s\n", c.Blocked)
	}
	if wt := c.Wait; wt != nil {
		fmt.Fprintf(w, "  waits for its window: %s\n", wt.Why)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, s := range c.DB {
		irr := ""
		if s.Irreversible {
			irr = "irreversible"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", s.ID, s.What, irr)
	}
	tw.Flush()
}

// writeEnvironment prints a change of the environment lane.
func writeEnvironment(w io.Writer, c *Change) {
	fmt.Fprintf(w, "\n%s environment config %s (lane environment)\n  %s\n", c.Environment, c.To, c.Reason)
	if wt := c.Wait; wt != nil {
		fmt.Fprintf(w, "  waits for its window: %s\n", wt.Why)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, s := range c.Servers {
		what := "write " + strings.Join(s.Files, ", ")
		if len(s.Files) == 0 {
			what = "record what is applied"
		}
		fmt.Fprintf(tw, "  %s\t%s\n", s.Server, what)
	}
	tw.Flush()
}

// writeRelease prints a Release's standing and, when it has one, its
// change of the files lane.
func writeRelease(w io.Writer, st *AppStatus, c *Change) {
	key := st.Environment + "/" + st.App
	if c == nil {
		fmt.Fprintf(w, "\n%s %s: in sync on %d of %d servers%s\n", key, st.Version, st.Counts[InSync], len(st.Servers), attention(st))
		return
	}
	fmt.Fprintf(w, "\n%s %s: %s rollout of %s (lane %s)%s\n  %s\n", key, st.Version, c.Strategy, c.To, c.Lane, attention(st), c.Reason)
	if wt := c.Wait; wt != nil && wt.Order {
		fmt.Fprintf(w, "  waits: %s (staging goes ahead)\n", wt.Why)
	} else if wt != nil {
		next := "no opening within two years"
		if !wt.Next.IsZero() {
			next = "next opening " + wt.Next.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(w, "  waits for its window: %s; %s (staging goes ahead)\n", wt.Why, next)
	}
	for i, b := range c.Batches {
		fmt.Fprintf(w, "  batch %d: %s\n", i+1, strings.Join(b, ", "))
	}
	if sw := c.Switch; sw != nil {
		fmt.Fprintf(w, "  switch %s: %s in", switchText(sw), strings.Join(sw.Servers, ", "))
		if len(sw.Old) > 0 && sw.From != "" {
			fmt.Fprintf(w, ", %s out (kept on their release for a rollback)", strings.Join(sw.Old, ", "))
		}
		fmt.Fprintln(w)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
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

// writeAttention lists the releases and servers that are held or
// unreachable.
func writeAttention(w io.Writer, status []*AppStatus, configHeld []*ConfigHeld) {
	var notes []string
	for _, h := range configHeld {
		notes = append(notes, fmt.Sprintf("  %s\t%s\tenvironment lane held: %s", h.Environment, h.Server, h.Reason))
	}
	for _, st := range status {
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
		fmt.Fprintln(w, "\nneeds attention:")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, strings.Join(notes, "\n"))
		tw.Flush()
	}
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
