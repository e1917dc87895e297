package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/gitfleet/gitfleet/config"
	"github.com/gitfleet/gitfleet/metrics"
	"github.com/gitfleet/gitfleet/notify"
	"github.com/gitfleet/gitfleet/plan"
	"github.com/gitfleet/gitfleet/reconcile"
	"github.com/gitfleet/gitfleet/resolve"
	"github.com/gitfleet/gitfleet/spec"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
)

func newPlanCmd() *cobra.Command {
	var cfgFile, output string
	cmd := &cobra.Command{
		Use:   "plan --config FILE",
		Short: "Print what a reconcile would do, changing nothing",
		Long: "plan reads the desired state, observes the fleet (read-only) and prints the\n" +
			"changes a reconcile pass would carry out. Exit status: 0 nothing to do,\n" +
			"2 changes pending, 1 error. Usable as a pull-request check.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return &exitError{1, fmt.Errorf("-o %q: want text or json", output)}
			}
			// A signal ends the fetches and lets the temporary directory
			// be removed.
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			cmd.SetContext(ctx)
			c, d, tmp, cleanup, err := loadDesired(cmd.Context(), cfgFile)
			defer cleanup()
			if err != nil {
				return &exitError{1, err}
			}
			// The daemon's record of failed steps says why a server is
			// still out of sync; plan only reads it.
			failures, err := reconcile.OpenFailures(filepath.Join(c.StateDir, failuresFile))
			if err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: %v\n", err)
			}
			quiet := slog.New(slog.DiscardHandler)
			ctl, err := newController(c, controllerParts{log: quiet, metrics: metrics.New(prometheus.NewRegistry(), version),
				history: noHistory{}, notifier: &notify.Notifier{Log: quiet}, failures: failures,
				artifacts: filepath.Join(tmp, "artifacts"), readOnly: true})
			if err != nil {
				return &exitError{1, err}
			}
			// The steps of the daemon's pass up to its plan: what the next
			// pass would do.
			p := ctl.Preview(cmd.Context(), d)
			// The daemon's record of the servers it manages says which
			// ones this desired state leaves.
			if err := reconcile.NoteUnmanaged(p, d, filepath.Join(c.StateDir, managedFile)); err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: %v\n", err)
			}
			out := cmd.OutOrStdout()
			if output == "json" {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(p); err != nil {
					return &exitError{1, err}
				}
			} else if err := p.WriteText(out); err != nil {
				return &exitError{1, err}
			}
			if len(p.Changes) > 0 || p.Unmanages() > 0 {
				return &exitError{code: 2}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&cfgFile, "config", "gitfleet.yaml", "daemon configuration file")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

// loadDesired reads the configuration and the desired state once, the way
// plan does: a Git source and Git artifacts are fetched into the temporary
// directory tmp, which cleanup removes, so that the daemon's state is not
// touched.
func loadDesired(ctx context.Context, cfgFile string) (c *config.Config, d *plan.Desired, tmp string, cleanup func(), err error) {
	cleanup = func() {}
	c, err = config.Load(cfgFile)
	if err != nil {
		return nil, nil, "", cleanup, err
	}
	tmp, err = os.MkdirTemp("", "gitfleet-plan-")
	if err != nil {
		return nil, nil, "", cleanup, err
	}
	cleanup = func() { os.RemoveAll(tmp) }
	src, _, err := newSource(c, tmp, nil, nil, true)
	if err != nil {
		return nil, nil, tmp, cleanup, err
	}
	snap, err := src.Snapshot(ctx)
	if err != nil {
		return nil, nil, tmp, cleanup, err
	}
	d, err = resolve.Resolve(ctx, snap, gitArtifacts(c, filepath.Join(tmp, "artifacts"), true), specOptions(c))
	if err != nil {
		what := "is invalid"
		if !resolve.IsInvalid(err) {
			what = "cannot be resolved"
		}
		return nil, nil, tmp, cleanup, fmt.Errorf("desired state at %s %s:\n%w", snap.Short(), what, err)
	}
	return c, d, tmp, cleanup, nil
}

// managedFile, in the state directory, is the daemon's record of the
// servers of the desired state in force (see reconcile.Managed).
const managedFile = "managed.json"

// specOptions are the limits and checks of gitfleet.yaml that loading a
// desired state applies: the same for run, plan and validate --config.
func specOptions(c *config.Config) spec.Options {
	o := spec.Options{
		MaxFileBytes:     c.Limits.MaxFileBytes,
		MaxRenderedBytes: c.Limits.MaxRenderedBytes,
		RenderTimeout:    c.Limits.RenderTimeout,
		AllowEmpty:       c.AllowEmpty,
		Roots:            c.EnvironmentFiles.Roots,
		Databases:        []string{},
		LocalTransport:   c.Transport.Type == "local",
	}
	if o.Roots == nil {
		o.Roots = []string{}
	}
	for name := range c.Databases {
		o.Databases = append(o.Databases, name)
	}
	if c.Transport.SSH != nil {
		o.SSHPort = c.Transport.SSH.Port
	}
	return o
}
