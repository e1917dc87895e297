package lb

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gitfleet/gitfleet/fleet"
	"github.com/gitfleet/gitfleet/internal/proc"
	"github.com/gitfleet/gitfleet/spec"
)

// Command drives any load balancer through user commands, run with
// /bin/sh on the daemon's machine.
type Command struct {
	Drain, Ready, Maint, State string
	Timeout                    time.Duration
}

func (c *Command) run(ctx context.Context, command string, env ...string) (string, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = spec.DefaultLBTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := proc.Shell(ctx, command, time.Second, env...)
	var stdout, stderr proc.TailBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return "", fmt.Errorf("load balancer command %q: %w: %s", command, err, strings.TrimSpace(string(stderr.Bytes())))
	}
	return string(stdout.Bytes()), nil
}

// Servers runs the state command: one line per server, "name
// ready|drain|maint [up|down] [sessions]".
func (c *Command) Servers(ctx context.Context) (map[string]fleet.LBServer, error) {
	out, err := c.run(ctx, c.State)
	if err != nil {
		return nil, err
	}
	res := map[string]fleet.LBServer{}
	for i, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if len(f) < 2 {
			return nil, fmt.Errorf("load balancer state command, line %d: %q: want name and ready, drain or maint", i+1, line)
		}
		s := fleet.LBServer{Admin: fleet.LBAdmin(f[1]), Up: true}
		if s.Admin != fleet.LBReady && s.Admin != fleet.LBDrain && s.Admin != fleet.LBMaint {
			return nil, fmt.Errorf("load balancer state command, line %d: state %q: want ready, drain or maint", i+1, f[1])
		}
		for _, x := range f[2:] {
			switch x {
			case "up":
				s.Up = true
			case "down":
				s.Up = false
			default:
				n, err := strconv.Atoi(x)
				if err != nil || n < 0 {
					return nil, fmt.Errorf("load balancer state command, line %d: %q: want up, down or a session count", i+1, x)
				}
				s.Sessions = n
			}
		}
		res[f[0]] = s
	}
	return res, nil
}

// Set runs the drain, ready or maint command for the server.
func (c *Command) Set(ctx context.Context, server string, state fleet.LBAdmin) error {
	command := map[fleet.LBAdmin]string{fleet.LBDrain: c.Drain, fleet.LBReady: c.Ready, fleet.LBMaint: c.Maint}[state]
	if command == "" && state == fleet.LBMaint {
		command = c.Drain
	}
	_, err := c.run(ctx, command, "GITFLEET_LB_SERVER="+server, "GITFLEET_LB_STATE="+string(state))
	return err
}
