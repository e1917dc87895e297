package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/gitfleet/gitfleet/reconcile"
	"github.com/gitfleet/gitfleet/spec"
	"github.com/spf13/cobra"
)

func newRollbackCmd(g *globalFlags) *cobra.Command {
	var cfgFile string
	cmd := &cobra.Command{
		Use:   "rollback ENV APP",
		Short: "Switch a blue/green release back to the group that still holds the previous release",
		Long: "rollback switches the load balancer of a parallel (blue/green) release back to the\n" +
			"idle group, which still holds the previous release: that group is health-checked\n" +
			"and readied, then the live group is drained and put in maintenance. The release\n" +
			"is held at the current revision, so the daemon does not switch again until a new\n" +
			"commit or `gitfleet sync --retry ENV APP`.",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			log, err := g.logger(cmd.ErrOrStderr())
			if err != nil {
				return &exitError{1, err}
			}
			c, x, d, cleanup, err := loadDesired(ctx, cfgFile)
			defer cleanup()
			if err != nil {
				return &exitError{1, err}
			}
			obs := reconcile.Observe(ctx, x, d.Spec, c.Observe.Parallelism, c.Observe.Timeout)
			obs.LB = reconcile.ObserveLBs(ctx, nil, d.Spec)
			if err := reconcile.Rollback(ctx, x, nil, log, d, obs, args[0], args[1], time.Now()); err != nil {
				return &exitError{1, err}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s/%s rolled back\n", args[0], args[1])
			return nil
		},
	}
	cmd.Flags().StringVar(&cfgFile, "config", "gitfleet.yaml", "daemon configuration file")
	return cmd
}

func newSyncCmd() *cobra.Command {
	var df daemonFlags
	var retry bool
	cmd := &cobra.Command{
		Use:   "sync --retry ENV APP",
		Short: "Try a release again that failed or was rolled back at this revision",
		Long: "sync --retry forgets the failures recorded on the servers of a release (a failed\n" +
			"activation, a rolling or parallel rollout that stopped, a rollback), so that the\n" +
			"next pass of the daemon tries the release again; it asks a daemon listening at the\n" +
			"configured address (or --addr) for that pass at once, with the API token of\n" +
			"--token-file, $GITFLEET_TOKEN or the configuration.",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !retry {
				return &exitError{1, fmt.Errorf("sync needs --retry (the daemon syncs by itself; --retry forgets recorded failures)")}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			c, x, d, cleanup, err := loadDesired(ctx, df.cfgFile)
			defer cleanup()
			if err != nil {
				return &exitError{1, err}
			}
			daemon, err := df.client(c, 3*time.Second)
			if err != nil {
				return &exitError{1, err}
			}
			env, app := d.Spec.Environment(args[0]), d.Spec.App(args[1])
			if env == nil || app == nil || d.Releases[spec.Key{Environment: args[0], App: args[1]}].ID == "" {
				return &exitError{1, fmt.Errorf("no Release of app %q in environment %q", args[1], args[0])}
			}
			cleared, failed := 0, 0
			for _, srv := range spec.Targets(env, app) {
				sctx, cancel := context.WithTimeout(ctx, c.Observe.Timeout)
				ok, err := x.ClearFailed(sctx, srv, app)
				cancel()
				switch {
				case err != nil:
					failed++
					fmt.Fprintf(cmd.ErrOrStderr(), "%s: %v\n", srv.Name, err)
				case ok:
					cleared++
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s/%s: recorded failures cleared on %d servers\n", args[0], args[1], cleared)
			if err := askForPass(ctx, cmd.OutOrStdout(), daemon); err != nil {
				return &exitError{1, fmt.Errorf("recorded failures cleared, but %w; the next pass (resync) tries again", err)}
			}
			if failed > 0 {
				return &exitError{1, fmt.Errorf("%d servers could not be cleared", failed)}
			}
			return nil
		},
	}
	df.register(cmd, "daemon configuration file", true)
	cmd.Flags().BoolVar(&retry, "retry", false, "forget the release's recorded failures at this revision")
	return cmd
}

// askForPass posts /api/v1/sync. A daemon that does not answer is no
// error (its next resync does the work); a refused token is.
func askForPass(ctx context.Context, out io.Writer, daemon *daemonClient) error {
	resp, from, err := daemon.post(ctx, "/api/v1/sync")
	var noToken *noTokenError
	switch {
	case errors.Is(err, errNoLocalToken):
		fmt.Fprintf(out, "no daemon answered at %s (none has written its token to %s): the next pass (resync) tries again\n", daemon.base, from)
		return nil
	case errors.As(err, &noToken):
		return fmt.Errorf("the daemon was not asked for a pass: %w", err)
	case err != nil:
		fmt.Fprintf(out, "no daemon answered at %s: the next pass (resync) tries again\n", daemon.base)
		return nil
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusAccepted:
		fmt.Fprintln(out, "the daemon is reconciling now")
		return nil
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Errorf("the daemon at %s refused the token of %s: %w", daemon.base, from, answerError(daemon.base, "/api/v1/sync", resp))
	}
	fmt.Fprintf(out, "the daemon at %s did not take the request (%s): the next pass (resync) tries again\n", daemon.base, resp.Status)
	return nil
}
