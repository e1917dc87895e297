package executor

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gitfleet/gitfleet/spec"
)

// LBAdmin is the administrative state of a server in a load balancer.
type LBAdmin string

// The administrative states: taking traffic, finishing its sessions but
// taking no new ones, out entirely.
const (
	LBReady LBAdmin = "ready"
	LBDrain LBAdmin = "drain"
	LBMaint LBAdmin = "maint"
)

// LBServer is how a load balancer sees one server.
type LBServer struct {
	Admin LBAdmin `json:"admin"`
	// Up is the load balancer's own verdict (its health checks).
	Up bool `json:"up"`
	// Sessions is the number of sessions the server has now.
	Sessions int `json:"sessions"`
}

// LoadBalancer is the small interface the rolling and parallel strategies
// drive. Names are the servers' names in the load balancer.
type LoadBalancer interface {
	Servers(ctx context.Context) (map[string]LBServer, error)
	Set(ctx context.Context, server string, state LBAdmin) error
}

// NewLoadBalancer returns the driver an environment names.
func NewLoadBalancer(lb *spec.LoadBalancer) (LoadBalancer, error) {
	switch lb.Type {
	case spec.LBHAProxy:
		return &HAProxy{Address: lb.Address, Backend: lb.Backend, Timeout: lb.Timeout}, nil
	case spec.LBCommand:
		return &CommandLB{Drain: lb.Drain, Ready: lb.Ready, Maint: lb.Maint, State: lb.State, Timeout: lb.Timeout}, nil
	}
	return nil, fmt.Errorf("unknown load balancer type %q", lb.Type)
}

// HAProxy drives HAProxy through its runtime API (a stats socket at level
// admin), one command per connection.
type HAProxy struct {
	Address string // unix socket path, or host:port
	Backend string
	Timeout time.Duration
}

func (h *HAProxy) command(ctx context.Context, line string) (string, error) {
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = spec.DefaultLBTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	network := "tcp"
	if strings.HasPrefix(h.Address, "/") || strings.HasPrefix(h.Address, "unix:") {
		network = "unix"
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, network, strings.TrimPrefix(h.Address, "unix:"))
	if err != nil {
		return "", fmt.Errorf("haproxy %s: %w", h.Address, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return "", fmt.Errorf("haproxy %s: %s: %w", h.Address, line, err)
	}
	b, err := io.ReadAll(io.LimitReader(c, 16<<20))
	if err != nil {
		return "", fmt.Errorf("haproxy %s: %s: %w", h.Address, line, err)
	}
	return string(b), nil
}

// Servers reads the backend's servers: administrative and operational
// state from `show servers state`, sessions from `show stat`.
func (h *HAProxy) Servers(ctx context.Context) (map[string]LBServer, error) {
	out, err := h.command(ctx, "show servers state "+h.Backend)
	if err != nil {
		return nil, err
	}
	res, err := parseServersState(out, h.Backend)
	if err != nil {
		return nil, fmt.Errorf("haproxy %s: %w", h.Address, err)
	}
	stat, err := h.command(ctx, "show stat")
	if err != nil {
		return nil, err
	}
	sessions, err := parseStatSessions(stat, h.Backend)
	if err != nil {
		return nil, fmt.Errorf("haproxy %s: show stat: %w", h.Address, err)
	}
	for name, n := range sessions {
		if s, ok := res[name]; ok {
			s.Sessions = n
			res[name] = s
		}
	}
	return res, nil
}

// HAProxy's srv_admin_state bits.
const (
	haFMaint = 0x01
	haIMaint = 0x02
	haCMaint = 0x04
	haFDrain = 0x08
	haIDrain = 0x10
	haRMaint = 0x20
	haHMaint = 0x40
)

func parseServersState(out, backend string) (map[string]LBServer, error) {
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var cols map[string]int
	res := map[string]LBServer{}
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line == "1":
			continue
		case strings.HasPrefix(line, "# "):
			cols = map[string]int{}
			for i, c := range strings.Fields(line[2:]) {
				cols[c] = i
			}
			continue
		case cols == nil:
			// An error message instead of the table.
			return nil, fmt.Errorf("show servers state %s: %s", backend, strings.TrimSpace(out))
		}
		f := strings.Fields(line)
		get := func(name string) (string, bool) {
			i, ok := cols[name]
			if !ok || i >= len(f) {
				return "", false
			}
			return f[i], true
		}
		name, ok1 := get("srv_name")
		op, ok2 := get("srv_op_state")
		adm, ok3 := get("srv_admin_state")
		if !ok1 || !ok2 || !ok3 {
			return nil, fmt.Errorf("show servers state %s: unexpected line %q", backend, line)
		}
		opN, _ := strconv.Atoi(op)
		admN, _ := strconv.Atoi(adm)
		s := LBServer{Admin: LBReady, Up: opN == 2}
		switch {
		case admN&(haFMaint|haIMaint|haCMaint|haRMaint|haHMaint) != 0:
			s.Admin = LBMaint
		case admN&(haFDrain|haIDrain) != 0:
			s.Admin = LBDrain
		}
		res[name] = s
	}
	if cols == nil {
		return nil, fmt.Errorf("show servers state %s: %s", backend, strings.TrimSpace(out))
	}
	return res, sc.Err()
}

func parseStatSessions(out, backend string) (map[string]int, error) {
	out = strings.TrimPrefix(out, "# ")
	r := csv.NewReader(strings.NewReader(out))
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		return nil, err
	}
	idx := map[string]int{}
	for i, h := range header {
		idx[h] = i
	}
	px, sv, scur := idx["pxname"], idx["svname"], idx["scur"]
	if _, ok := idx["scur"]; !ok {
		return nil, errors.New("no scur column")
	}
	res := map[string]int{}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if len(rec) <= scur || rec[px] != backend || rec[sv] == "BACKEND" || rec[sv] == "FRONTEND" {
			continue
		}
		n, _ := strconv.Atoi(rec[scur])
		res[rec[sv]] = n
	}
	return res, nil
}

// Set changes a server's administrative state.
func (h *HAProxy) Set(ctx context.Context, server string, state LBAdmin) error {
	out, err := h.command(ctx, fmt.Sprintf("set server %s/%s state %s", h.Backend, server, state))
	if err != nil {
		return err
	}
	if msg := strings.TrimSpace(out); msg != "" {
		return fmt.Errorf("haproxy %s: set server %s/%s state %s: %s", h.Address, h.Backend, server, state, msg)
	}
	return nil
}

// CommandLB drives any load balancer through user commands, run with
// /bin/sh on the daemon's machine.
type CommandLB struct {
	Drain, Ready, Maint, State string
	Timeout                    time.Duration
}

func (c *CommandLB) run(ctx context.Context, command string, env ...string) (string, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = spec.DefaultLBTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", command)
	cmd.Env = append(baseEnv(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	var stdout, stderr tailBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return "", fmt.Errorf("load balancer command %q: %w: %s", command, err, strings.TrimSpace(string(stderr.Bytes())))
	}
	return string(stdout.Bytes()), nil
}

// Servers runs the state command: one line per server, "name
// ready|drain|maint [up|down] [sessions]".
func (c *CommandLB) Servers(ctx context.Context) (map[string]LBServer, error) {
	out, err := c.run(ctx, c.State)
	if err != nil {
		return nil, err
	}
	res := map[string]LBServer{}
	for i, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if len(f) < 2 {
			return nil, fmt.Errorf("load balancer state command, line %d: %q: want name and ready, drain or maint", i+1, line)
		}
		s := LBServer{Admin: LBAdmin(f[1]), Up: true}
		if s.Admin != LBReady && s.Admin != LBDrain && s.Admin != LBMaint {
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
func (c *CommandLB) Set(ctx context.Context, server string, state LBAdmin) error {
	command := map[LBAdmin]string{LBDrain: c.Drain, LBReady: c.Ready, LBMaint: c.Maint}[state]
	if command == "" && state == LBMaint {
		command = c.Drain
	}
	_, err := c.run(ctx, command, "GITFLEET_LB_SERVER="+server, "GITFLEET_LB_STATE="+string(state))
	return err
}
