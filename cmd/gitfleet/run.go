package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/gitfleet/gitfleet/config"
	"github.com/gitfleet/gitfleet/metrics"
	"github.com/gitfleet/gitfleet/reconcile"
	"github.com/gitfleet/gitfleet/source"
	"github.com/gitfleet/gitfleet/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
)

func newRunCmd(g *globalFlags) *cobra.Command {
	var cfgFile, listen string
	cmd := &cobra.Command{
		Use:   "run --config FILE",
		Short: "Run the reconciler daemon",
		Long: "run watches the desired state and reconciles the fleet with it: on start, on\n" +
			"every change of the source and every resync interval. /metrics, /healthz, the\n" +
			"webhooks and the API are served on the listen address (HTTPS with api.tls);\n" +
			"POST /api/v1/sync needs a bearer token of api.tokens, or, without any, the one\n" +
			"the daemon writes to <stateDir>/api.token. An address other machines reach\n" +
			"needs api.tokens. SIGINT or SIGTERM: the server steps under way finish,\n" +
			"nothing new starts, and gitfleet exits 0; a second signal cancels the steps\n" +
			"under way.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger(cmd.ErrOrStderr())
			if err != nil {
				return &exitError{1, err}
			}
			c, err := config.Load(cfgFile)
			if err != nil {
				return &exitError{1, err}
			}
			if listen != "" {
				c.SetListen(listen)
			}
			return runDaemon(c, log)
		},
	}
	cmd.Flags().StringVar(&cfgFile, "config", "gitfleet.yaml", "daemon configuration file")
	cmd.Flags().StringVar(&listen, "listen", "", "override the configuration's listen address (not a loopback address: api.tokens needed)")
	return cmd
}

func runDaemon(c *config.Config, log *slog.Logger) error {
	// First signal: stop starting work. Second: cancel work under way.
	stop, stopNow := context.WithCancel(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	defer stopNow()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	hups := make(chan os.Signal, 1)
	signal.Notify(hups, syscall.SIGHUP)
	defer signal.Stop(hups)
	go func() {
		s := <-sigs
		log.Info("shutting down: finishing server steps under way, starting nothing new (signal again to cancel them)", "signal", s.String())
		stopNow()
		s = <-sigs
		log.Warn("cancelling server steps under way", "signal", s.String())
		cancel()
	}()

	if err := c.CheckListen(c.Listen); err != nil {
		return &exitError{1, err}
	}
	if err := os.MkdirAll(c.StateDir, 0o750); err != nil {
		return &exitError{1, fmt.Errorf("state directory: %w", err)}
	}
	unlock, err := lockStateDir(c.StateDir)
	if err != nil {
		return &exitError{1, err}
	}
	defer unlock()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := metrics.New(reg, version)

	tokens, err := apiTokens(c)
	if err != nil {
		return &exitError{1, err}
	}
	defer forgetLocalToken(c)
	auth := newAPIAuth(log, tokens)
	mux := http.NewServeMux()
	hs, err := listenHTTP(c, c.Listen, mux, log)
	if err != nil {
		return &exitError{1, err}
	}
	src, git, err := newSource(c, "", m, log, false)
	if err != nil {
		return &exitError{1, err}
	}
	if git != nil {
		git.Dir = gitCacheDir(c)
	}
	if secrets, err := webhookSecrets(c); err != nil {
		return &exitError{1, err}
	} else if len(secrets) > 0 {
		wh := &source.Webhooks{Secrets: secrets, Target: git, Log: log, Count: m.WebhookRequest}
		mux.Handle("/webhooks/", wh.Handler())
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	notes, err := notifier(c, log)
	if err != nil {
		return &exitError{1, err}
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		notes.Close(ctx)
	}()
	history, err := store.Open(filepath.Join(c.StateDir, "history.db"), store.Retention{MaxEvents: c.History.MaxEvents, MaxAge: c.History.MaxAge})
	if err != nil {
		return &exitError{1, err}
	}
	defer history.Close()
	failures, err := reconcile.OpenFailures(filepath.Join(c.StateDir, failuresFile))
	if err != nil {
		log.Warn("the record of failed steps is unreadable; starting a new one", "err", err)
	}
	ctl, err := newController(c, controllerParts{log: log, metrics: m, history: history, notifier: notes, failures: failures,
		artifacts: filepath.Join(c.StateDir, "artifacts")})
	if err != nil {
		return &exitError{1, err}
	}
	// An input changed (a sync request, SIGHUP): poll the source and try
	// a rejected desired state again at once.
	kick := func() {
		ctl.Sync()
		if git != nil {
			git.Trigger()
		}
	}
	registerAPI(mux, c, ctl, history, auth, log, kick)
	// Serve once every route is there: a client that sees /healthz
	// answer finds the API too.
	go func() {
		if err := hs.serve(); err != nil {
			log.Error("http server", "err", err)
		}
	}()
	if err := writePublic(filepath.Join(c.StateDir, apiURLFile), hs.url()+"\n"); err != nil {
		log.Warn("cannot write the API's address to the state directory", "err", err)
	}
	defer os.Remove(filepath.Join(c.StateDir, apiURLFile))
	go func() {
		for range hups {
			log.Info("SIGHUP: polling the source and trying a rejected desired state again")
			kick()
		}
	}()
	log.Info("gitfleet started", "version", version, "listen", hs.ln.Addr().String(), "url", hs.url(), "tokens", len(tokens), "config", c.File, "transport", c.Transport.Type, "resync", c.Resync)

	watchDone := make(chan error, 1)
	go func() { watchDone <- src.Watch(stop, ctl.Update) }()

	ctl.Run(ctx, stop)

	if err := <-watchDone; err != nil {
		log.Error("source watch ended", "err", err)
	}
	shutdownCtx, done := context.WithTimeout(context.Background(), 5*time.Second)
	defer done()
	hs.srv.Shutdown(shutdownCtx)
	log.Info("gitfleet stopped")
	return nil
}

// lockStateDir keeps two daemons from acting on the same state directory.
func lockStateDir(dir string) (unlock func(), err error) {
	name := filepath.Join(dir, "gitfleet.lock")
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("state directory lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("state directory %s is in use by another gitfleet (lock %s): %w", dir, name, err)
	}
	if err := f.Truncate(0); err == nil {
		fmt.Fprintf(f, "%d\n", os.Getpid())
	}
	return func() { f.Close() }, nil
}

// failuresFile, in the state directory, is the daemon's record of the last
// failed step of every server (see reconcile.Failures).
const failuresFile = "failures.json"

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
