package executor

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/gitfleet/gitfleet/fleet"
	"github.com/gitfleet/gitfleet/spec"
)

// Check runs the app's health check against the release current points
// to (r.Release), as a server is put back into its load balancer.
func (x *Executor) Check(ctx context.Context, r fleet.Request) error {
	h := r.App.Health
	if h == nil {
		return nil
	}
	dir := path.Join(r.App.DeployTo, "releases", r.Release.ID)
	if err := x.health(ctx, r, dir, x.commandEnv(r, r.Release, ""), h); err != nil {
		return fmt.Errorf("health check of %s %s on %s: %w", r.App.Name, r.Release.Version, r.Server.Name, err)
	}
	return nil
}

func (x *Executor) health(ctx context.Context, r fleet.Request, dir string, env []string, h *spec.Health) error {
	var last error
	for attempt := 1; attempt <= h.Attempts; attempt++ {
		if attempt > 1 {
			t := time.NewTimer(h.Interval)
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("%w (last attempt: %v)", ctx.Err(), last)
			case <-t.C:
			}
		}
		cctx, cancel := context.WithTimeout(ctx, h.Timeout)
		out, err := x.probe(cctx, r, dir, env, h)
		cancel()
		if err == nil {
			r.Log.Info("health check passed", "attempt", attempt)
			return nil
		}
		last = withOutput(err, out)
		r.Log.Warn("health check failed", "attempt", attempt, "of", h.Attempts, "err", last)
	}
	return fmt.Errorf("unhealthy after %d attempts: %w", h.Attempts, last)
}

// probe runs one health check: the command on the server, or an HTTP GET
// or TCP connection from the daemon.
func (x *Executor) probe(ctx context.Context, r fleet.Request, dir string, env []string, h *spec.Health) ([]byte, error) {
	host := r.Server.Host
	if host == "" {
		host = r.Server.Name
	}
	switch {
	case h.HTTP != "":
		u := strings.ReplaceAll(h.HTTP, spec.HostPlaceholder, host)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxOutput))
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return body, fmt.Errorf("GET %s: %s", u, resp.Status)
		}
		return nil, nil
	case h.TCP != "":
		addr := strings.ReplaceAll(h.TCP, spec.HostPlaceholder, host)
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		return nil, c.Close()
	}
	return x.T.Run(ctx, r.Server, dir, env, h.Command)
}
