package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/gitfleet/gitfleet/reconcile"
	"github.com/spf13/cobra"
)

// opFlags are the flags of the commands that change the fleet through the
// daemon (rollback, sync --retry).
type opFlags struct {
	daemonFlags
	local bool
	wait  time.Duration
}

func (f *opFlags) register(cmd *cobra.Command) {
	f.daemonFlags.register(cmd, "daemon configuration file", true)
	cmd.Flags().BoolVar(&f.local, "local", false, "no daemon runs: do it here, holding the daemon's state directory lock (refused while a daemon holds it)")
	cmd.Flags().DurationVar(&f.wait, "wait", 15*time.Minute, "how long to wait for the daemon to carry it out")
}

func newRollbackCmd(g *globalFlags) *cobra.Command {
	var f opFlags
	cmd := &cobra.Command{
		Use:   "rollback ENV APP",
		Short: "Switch a blue/green release back to the group that still holds the previous release",
		Long: "rollback asks the running daemon to switch the load balancer of a parallel\n" +
			"(blue/green) release back to the idle group, which still holds the previous\n" +
			"release: that group is health-checked and readied, then the live group is drained\n" +
			"and put in maintenance. The daemon does it between its passes, so nothing else\n" +
			"acts on those servers meanwhile, and records the API token's name. The release is\n" +
			"held at the current revision, so the daemon does not switch again until a new\n" +
			"commit or `gitfleet sync --retry ENV APP`. Without a running daemon, --local does\n" +
			"it here, holding the daemon's state directory lock.",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			op, err := runOperation(cmd, g, &f, reconcile.OpRollback, args[0], args[1])
			if err != nil {
				return &exitError{1, err}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s/%s rolled back: %s\n", args[0], args[1], op.Result)
			return nil
		},
	}
	f.register(cmd)
	return cmd
}

func newSyncCmd(g *globalFlags) *cobra.Command {
	var f opFlags
	var retry bool
	cmd := &cobra.Command{
		Use:   "sync --retry ENV APP",
		Short: "Try a release again that failed or was rolled back at this revision",
		Long: "sync --retry asks the running daemon to forget the failures recorded on the servers\n" +
			"of a release (a failed activation, a rolling or parallel rollout that stopped, a\n" +
			"rollback), and to try the release again at once. It reaches the daemon at --addr,\n" +
			"the address the daemon of --config wrote to its state directory, or the\n" +
			"configuration's listen, with the API token of --token-file, $GITFLEET_TOKEN or the\n" +
			"configuration. Without a running daemon, --local forgets the failures here,\n" +
			"holding the daemon's state directory lock; the next daemon tries the release again.",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !retry {
				return &exitError{1, fmt.Errorf("sync needs --retry (the daemon syncs by itself; --retry forgets recorded failures)")}
			}
			op, err := runOperation(cmd, g, &f, reconcile.OpRetry, args[0], args[1])
			if op.Result != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "%s/%s: %s\n", args[0], args[1], op.Result)
			}
			if err != nil {
				return &exitError{1, err}
			}
			if !f.local {
				fmt.Fprintln(cmd.OutOrStdout(), "the daemon is reconciling now")
			}
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&retry, "retry", false, "forget the release's recorded failures at this revision")
	return cmd
}

// runOperation has the operation carried out: by the running daemon, or
// here with --local. It returns the operation once it is over.
func runOperation(cmd *cobra.Command, g *globalFlags, f *opFlags, kind, env, app string) (reconcile.Operation, error) {
	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if f.local {
		return localOperation(ctx, cmd, g, f.cfgFile, kind, env, app)
	}
	daemon, err := f.client(nil, 30*time.Second)
	if err != nil {
		return reconcile.Operation{}, err
	}
	op, err := daemon.submit(ctx, kind, env, app)
	if err != nil {
		return reconcile.Operation{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, f.wait)
	defer cancel()
	return daemon.await(ctx, op)
}

// noDaemon says that no daemon answered, and that nothing changed.
func noDaemon(base string, err error) error {
	return fmt.Errorf("no daemon answered at %s (%v): nothing was changed; start the daemon, or give --local to do it here while no daemon runs", base, err)
}

// submit posts an operation; the daemon answers with it queued.
func (d *daemonClient) submit(ctx context.Context, kind, env, app string) (reconcile.Operation, error) {
	body, _ := json.Marshal(opRequest{Environment: env, App: app})
	resp, from, err := d.postBody(ctx, "/api/v1/"+kind, body)
	var noToken *noTokenError
	switch {
	case errors.Is(err, errNoLocalToken):
		return reconcile.Operation{}, noDaemon(d.base, fmt.Errorf("none has written its token to %s", from))
	case errors.As(err, &noToken):
		return reconcile.Operation{}, fmt.Errorf("the daemon was not asked: %w", err)
	case err != nil:
		return reconcile.Operation{}, noDaemon(d.base, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusAccepted:
	case http.StatusUnauthorized, http.StatusForbidden:
		return reconcile.Operation{}, fmt.Errorf("the daemon at %s refused the token of %s: %w", d.base, from, answerError(d.base, "/api/v1/"+kind, resp))
	default:
		return reconcile.Operation{}, fmt.Errorf("the daemon refused: %w", answerError(d.base, "/api/v1/"+kind, resp))
	}
	var op reconcile.Operation
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&op); err != nil {
		return op, fmt.Errorf("%s/api/v1/%s: %w", d.base, kind, err)
	}
	return op, nil
}

// await follows an operation until it is over, or ctx.
func (d *daemonClient) await(ctx context.Context, op reconcile.Operation) (reconcile.Operation, error) {
	path := fmt.Sprintf("/api/v1/operations/%d", op.ID)
	for op.State == reconcile.OpQueued || op.State == reconcile.OpRunning {
		t := time.NewTimer(200 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return op, fmt.Errorf("operation %d is still %s at the daemon (follow it at %s%s): %w", op.ID, op.State, d.base, path, ctx.Err())
		case <-t.C:
		}
		resp, err := d.get(path)
		if err != nil {
			return op, fmt.Errorf("operation %d: the daemon stopped answering: %w", op.ID, err)
		}
		if resp.StatusCode != http.StatusOK {
			err := answerError(d.base, path, resp)
			resp.Body.Close()
			return op, err
		}
		err = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&op)
		resp.Body.Close()
		if err != nil {
			return op, fmt.Errorf("%s%s: %w", d.base, path, err)
		}
	}
	if op.State == reconcile.OpFailed {
		return op, errors.New(op.Error)
	}
	return op, nil
}

// postBody sends a mutating request with a JSON body (see post).
func (d *daemonClient) postBody(ctx context.Context, path string, body []byte) (*http.Response, string, error) {
	return d.send(ctx, path, bytes.NewReader(body))
}
