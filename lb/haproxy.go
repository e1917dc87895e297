package lb

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/gitfleet/gitfleet/fleet"
	"github.com/gitfleet/gitfleet/spec"
)

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
func (h *HAProxy) Servers(ctx context.Context) (map[string]fleet.LBServer, error) {
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

func parseServersState(out, backend string) (map[string]fleet.LBServer, error) {
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var cols map[string]int
	res := map[string]fleet.LBServer{}
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
		opN, err := strconv.Atoi(op)
		if err != nil {
			return nil, fmt.Errorf("show servers state %s: server %s: srv_op_state %q is not a number", backend, name, op)
		}
		admN, err := strconv.Atoi(adm)
		if err != nil {
			return nil, fmt.Errorf("show servers state %s: server %s: srv_admin_state %q is not a number", backend, name, adm)
		}
		s := fleet.LBServer{Admin: fleet.LBReady, Up: opN == 2}
		switch {
		case admN&(haFMaint|haIMaint|haCMaint|haRMaint|haHMaint) != 0:
			s.Admin = fleet.LBMaint
		case admN&(haFDrain|haIDrain) != 0:
			s.Admin = fleet.LBDrain
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
		n, err := strconv.Atoi(rec[scur])
		if err != nil {
			return nil, fmt.Errorf("server %s: scur %q is not a number", rec[sv], rec[scur])
		}
		res[rec[sv]] = n
	}
	return res, nil
}

// Set changes a server's administrative state.
func (h *HAProxy) Set(ctx context.Context, server string, state fleet.LBAdmin) error {
	out, err := h.command(ctx, fmt.Sprintf("set server %s/%s state %s", h.Backend, server, state))
	if err != nil {
		return err
	}
	if msg := strings.TrimSpace(out); msg != "" {
		return fmt.Errorf("haproxy %s: set server %s/%s state %s: %s", h.Address, h.Backend, server, state, msg)
	}
	return nil
}
