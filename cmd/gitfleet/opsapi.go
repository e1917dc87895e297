package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/gitfleet/gitfleet/config"
	"github.com/gitfleet/gitfleet/reconcile"
	"github.com/gitfleet/gitfleet/store"
)

// apiURLFile, in the state directory, holds the URL the running daemon
// serves its API at: the CLI on this machine finds the daemon there even
// when it was started with --listen. It is removed when the daemon stops.
const apiURLFile = "api.url"

// registerAPI adds the JSON API of docs/api.md to mux. Endpoints that
// change something need a token (auth.require); operations on the fleet
// (rollback, retry) are carried out by the controller between passes.
func registerAPI(mux *http.ServeMux, c *config.Config, ctl *reconcile.Controller, history *store.Store, auth *apiAuth, log *slog.Logger, kick func()) {
	mux.HandleFunc("GET /api/v1/status", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, ctl.Status())
	})
	mux.HandleFunc("GET /api/v1/history", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		limit, _ := strconv.Atoi(q.Get("limit"))
		events, err := history.List(store.Filter{Environment: q.Get("environment"), App: q.Get("app"), Limit: limit})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, map[string]any{"events": events})
	})
	// gitfleet sync asks for a pass at once.
	syncs := &coalescer{trigger: kick, gap: syncGap, now: time.Now}
	mux.Handle("POST /api/v1/sync", auth.require("sync", syncHandler(log, syncs)))
	mux.Handle("POST /api/v1/rollback", auth.require(reconcile.OpRollback, opHandler(ctl, reconcile.OpRollback, log)))
	mux.Handle("POST /api/v1/retry", auth.require(reconcile.OpRetry, opHandler(ctl, reconcile.OpRetry, log)))
	mux.HandleFunc("GET /api/v1/operations/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
		if err != nil {
			http.Error(w, "operation id: want a number", http.StatusBadRequest)
			return
		}
		op, err := ctl.Operation(id)
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		writeJSON(w, op)
	})
}

// opRequest is the body of POST /api/v1/rollback and /api/v1/retry.
type opRequest struct {
	Environment string `json:"environment"`
	App         string `json:"app"`
}

// maxOpBody bounds the body of an operation request.
const maxOpBody = 4 << 10

// opHandler queues an operation: 202 with the operation (its id to follow
// at /api/v1/operations/{id}), 400 for a request the desired state does
// not know, 503 when too many wait.
func opHandler(ctl *reconcile.Controller, kind string, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req opRequest
		dec := json.NewDecoder(io.LimitReader(r.Body, maxOpBody))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil || req.Environment == "" || req.App == "" {
			http.Error(w, `want a JSON body {"environment": ..., "app": ...}`, http.StatusBadRequest)
			return
		}
		id, _ := identityOf(r.Context())
		op, err := ctl.Submit(kind, req.Environment, req.App, id.Token)
		switch {
		case errors.Is(err, reconcile.ErrBusy):
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		case err != nil:
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		log.Info("operation requested", "operation", kind, "id", op.ID, "environment", req.Environment, "app", req.App, "token", id.Token, "remote", r.RemoteAddr)
		w.Header().Set("Location", fmt.Sprintf("/api/v1/operations/%d", op.ID))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		json.NewEncoder(w).Encode(op)
	})
}

// writePublic replaces file with content, readable by others (it holds no
// secret).
func writePublic(file, content string) error {
	tmp, err := os.CreateTemp(filepath.Dir(file), ".tmp-"+filepath.Base(file)+"-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(content); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), file)
}
