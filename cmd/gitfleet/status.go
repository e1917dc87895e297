package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gitfleet/gitfleet/plan"
	"github.com/gitfleet/gitfleet/reconcile"
	"github.com/gitfleet/gitfleet/store"
	"github.com/spf13/cobra"
)

// apiGet reads a JSON document of the daemon's API at the configured
// listen address (or --addr).
func apiGet(f *daemonFlags, path string, out any) error {
	d, err := f.client(nil, 10*time.Second)
	if err != nil {
		return err
	}
	resp, err := d.get(path)
	if err != nil {
		return fmt.Errorf("the daemon does not answer at %s (is gitfleet run running? --addr sets where): %w", d.base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return answerError(d.base, path, resp)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newStatusCmd() *cobra.Command {
	var df daemonFlags
	var output string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show what the running daemon sees: releases, drift, rollouts under way",
		Long: "status asks the running daemon (GET /api/v1/status on its listen address) for\n" +
			"the desired state in force, every release's standing as last observed (desired\n" +
			"and actual versions, drift), the pending changes and the rollouts under way.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var st reconcile.Status
			if err := apiGet(&df, "/api/v1/status", &st); err != nil {
				return &exitError{1, err}
			}
			out := cmd.OutOrStdout()
			if output == "json" {
				return printJSON(out, st)
			}
			if st.Unavailable != "" {
				fmt.Fprintln(out, st.Unavailable)
				return nil
			}
			fmt.Fprintf(out, "revision %.12s (%s)", st.Revision, st.Origin)
			if st.Author != "" {
				fmt.Fprintf(out, " by %s", st.Author)
			}
			fmt.Fprintf(out, ", observed %s\n\n", st.ObservedAt.UTC().Format(time.RFC3339))
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "RELEASE\tDESIRED\tIN SYNC\tOUT OF SYNC\tDRIFTED\tUNREACHABLE\tNOTE")
			for _, a := range st.Releases {
				fmt.Fprintf(tw, "%s/%s\t%s\t%d\t%d\t%d\t%d\t%s\n", a.Environment, a.App, a.Version,
					a.Counts[plan.InSync], a.Counts[plan.OutOfSync], a.Counts[plan.Drifted], a.Counts[plan.Unreachable], a.Note)
			}
			tw.Flush()
			var lines []string
			for _, a := range st.Releases {
				for _, s := range a.Servers {
					if s.State == plan.InSync {
						continue
					}
					actual := s.Current
					if actual == "" {
						actual = "-"
					}
					lines = append(lines, fmt.Sprintf("  %s/%s\t%s\t%s\t%s\t%s", a.Environment, a.App, s.Server, s.State, actual, s.Reason))
				}
			}
			if len(lines) > 0 {
				fmt.Fprintln(out, "\nservers not in sync:")
				tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, strings.Join(lines, "\n"))
				tw.Flush()
			}
			if len(st.InProgress) > 0 {
				fmt.Fprintln(out, "\nrollouts under way:")
				for _, ip := range st.InProgress {
					fmt.Fprintf(out, "  %s/%s %s lane %s to %s since %s\n", ip.Environment, ip.App, ip.Strategy, ip.Lane, ip.To, ip.Started.UTC().Format(time.RFC3339))
				}
			}
			fmt.Fprintf(out, "\n%d pending %s\n", len(st.Pending), plural(len(st.Pending), "change", "changes"))
			return nil
		},
	}
	df.register(cmd, "daemon configuration file (for its listen address and TLS)", false)
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func newHistoryCmd() *cobra.Command {
	var df daemonFlags
	var output, env, app string
	var limit int
	cmd := &cobra.Command{
		Use:   "history [--env E] [--app A]",
		Short: "Show the rollouts, environment and database changes the daemon recorded",
		Long: "history asks the running daemon (GET /api/v1/history) for what it did, newest\n" +
			"first: revision, commit author, what, servers, start, end, result and error.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := url.Values{}
			if env != "" {
				q.Set("environment", env)
			}
			if app != "" {
				q.Set("app", app)
			}
			q.Set("limit", strconv.Itoa(limit))
			var body struct {
				Events []store.Event `json:"events"`
			}
			if err := apiGet(&df, "/api/v1/history?"+q.Encode(), &body); err != nil {
				return &exitError{1, err}
			}
			out := cmd.OutOrStdout()
			if output == "json" {
				return printJSON(out, body)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "START\tDURATION\tKIND\tRELEASE\tWHAT\tRESULT\tSERVERS\tREVISION\tAUTHOR\tERROR")
			for _, e := range body.Events {
				servers := strconv.Itoa(len(e.Servers))
				if len(e.Failed) > 0 {
					servers += fmt.Sprintf(" (%d failed)", len(e.Failed))
				}
				key := e.Environment
				if e.App != "" {
					key += "/" + e.App
				}
				errText := e.Error
				if len(errText) > 120 {
					errText = errText[:120] + "…"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.12s\t%s\t%s\n", e.Start.UTC().Format(time.RFC3339), e.End.Sub(e.Start).Round(time.Millisecond),
					e.Kind, key, e.What, e.Result, servers, e.Revision, e.Author, errText)
			}
			return tw.Flush()
		},
	}
	df.register(cmd, "daemon configuration file (for its listen address and TLS)", false)
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	cmd.Flags().StringVar(&env, "env", "", "only this environment")
	cmd.Flags().StringVar(&app, "app", "", "only this app")
	cmd.Flags().IntVar(&limit, "limit", 50, "at most this many events")
	return cmd
}
