package packaging

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// UnitProblem is a key of a systemd unit that breaks what the gitfleet
// service promises (its own user, its state directory, the sandbox, restart
// on failure, a graceful stop). Line is 0 when the key is missing.
type UnitProblem struct {
	Line int
	Msg  string
}

func (p UnitProblem) String() string {
	if p.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", UnitFile, p.Line, p.Msg)
	}
	return UnitFile + ": " + p.Msg
}

// MinStopTimeout is the least TimeoutStopSec LintUnit accepts: the default
// activation (60s), health check and drain of one step fit in it.
const MinStopTimeout = time.Minute

// unitValue is the last assignment of a key, where it was made.
type unitValue struct {
	value string
	line  int
	count int // assignments of the key
}

// parseUnit reads systemd's unit syntax: [Section] headers, Key=Value
// lines, # and ; comments, lines continued with a trailing backslash. Keys
// are "Section.Key".
func parseUnit(data []byte) map[string]unitValue {
	keys := map[string]unitValue{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	n, start := 0, 0
	var pending strings.Builder
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if pending.Len() == 0 {
			start = n
			if line == "" || line[0] == '#' || line[0] == ';' {
				continue
			}
		}
		if strings.HasSuffix(line, `\`) {
			pending.WriteString(strings.TrimSuffix(line, `\`) + " ")
			continue
		}
		pending.WriteString(line)
		full := pending.String()
		pending.Reset()
		if strings.HasPrefix(full, "[") && strings.HasSuffix(full, "]") {
			section = full[1 : len(full)-1]
			continue
		}
		k, v, ok := strings.Cut(full, "=")
		if !ok {
			continue
		}
		key := section + "." + strings.TrimSpace(k)
		keys[key] = unitValue{value: strings.TrimSpace(v), line: start, count: keys[key].count + 1}
	}
	return keys
}

// LintUnit checks the keys of a gitfleet service unit that systemd-analyze
// verify does not judge: that it runs binary (the package's path) as the
// daemon, as user (not root), with StateDirectory=stateDir, ProtectSystem=strict,
// NoNewPrivileges, PrivateTmp, ProtectHome, a restart on failure, and a
// graceful stop: SIGTERM to the daemon alone (KillMode=mixed), at least
// MinStopTimeout for the steps under way, then a second SIGTERM
// (TimeoutStopFailureMode=abort with WatchdogSignal=SIGTERM). No problems: nil.
func LintUnit(data []byte, binary, user, stateDir string) []UnitProblem {
	keys := parseUnit(data)
	var ps []UnitProblem
	want := func(key, msg string, ok func(string) bool) {
		v, set := keys[key]
		name := key[strings.IndexByte(key, '.')+1:]
		switch {
		case !set:
			ps = append(ps, UnitProblem{0, fmt.Sprintf("[%s] %s is missing: %s", key[:strings.IndexByte(key, '.')], name, msg)})
		case !ok(v.value):
			ps = append(ps, UnitProblem{v.line, fmt.Sprintf("%s=%s: %s", name, v.value, msg)})
		}
	}
	is := func(vals ...string) func(string) bool {
		return func(v string) bool {
			for _, w := range vals {
				if v == w {
					return true
				}
			}
			return false
		}
	}
	yes := is("yes", "true", "on", "1")
	sigterm := is("SIGTERM", "TERM", "15")

	want("Service.ExecStart", "want "+binary+" run --config FILE", func(v string) bool {
		f := strings.Fields(v)
		return len(f) >= 2 && strings.TrimLeft(f[0], "@-:+!") == binary && f[1] == "run" && keys["Service.ExecStart"].count == 1
	})
	want("Service.User", "want the service's own user "+user, is(user))
	want("Service.StateDirectory", "want "+stateDir+" (/var/lib/"+stateDir+", owned by the service's user)", is(stateDir))
	want("Service.ProtectSystem", "want strict: the whole file system read-only but the state directory", is("strict"))
	want("Service.NoNewPrivileges", "want yes", yes)
	want("Service.PrivateTmp", "want yes", yes)
	want("Service.ProtectHome", "want yes, read-only or tmpfs", func(v string) bool { return yes(v) || v == "read-only" || v == "tmpfs" })
	want("Service.Restart", "want on-failure (or on-abnormal, always)", is("on-failure", "on-abnormal", "always"))
	want("Service.TimeoutStopSec", fmt.Sprintf("want at least %s: the steps under way finish after the first SIGTERM", MinStopTimeout), func(v string) bool {
		d, err := parseTimespan(v)
		return err == nil && d >= MinStopTimeout
	})
	want("Service.KillMode", "want mixed: SIGTERM to the daemon alone, not to the commands it runs", is("mixed"))
	if v, set := keys["Service.KillSignal"]; set && !sigterm(v.value) {
		ps = append(ps, UnitProblem{v.line, fmt.Sprintf("KillSignal=%s: want SIGTERM, the daemon's graceful stop", v.value)})
	}
	want("Service.TimeoutStopFailureMode", "want abort: the second SIGTERM (WatchdogSignal) cancels the steps under way before SIGKILL", is("abort"))
	want("Service.WatchdogSignal", "want SIGTERM: the signal TimeoutStopFailureMode=abort sends", sigterm)
	want("Install.WantedBy", "want multi-user.target", func(v string) bool { return v != "" })
	return ps
}

var timespanPart = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)\s*([a-z]*)\s*`)

// parseTimespan reads a systemd time span: "300", "5min", "1h 30min",
// "2min30s", "infinity".
func parseTimespan(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "infinity" {
		return math.MaxInt64, nil
	}
	units := map[string]time.Duration{
		"": time.Second, "us": time.Microsecond, "usec": time.Microsecond, "ms": time.Millisecond, "msec": time.Millisecond,
		"s": time.Second, "sec": time.Second, "second": time.Second, "seconds": time.Second,
		"m": time.Minute, "min": time.Minute, "minute": time.Minute, "minutes": time.Minute,
		"h": time.Hour, "hr": time.Hour, "hour": time.Hour, "hours": time.Hour,
		"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
	}
	if s == "" {
		return 0, fmt.Errorf("empty time span")
	}
	var total time.Duration
	for rest := s; rest != ""; {
		m := timespanPart.FindStringSubmatch(rest)
		if m == nil {
			return 0, fmt.Errorf("time span %q: cannot read %q", s, rest)
		}
		unit, ok := units[m[2]]
		if !ok {
			return 0, fmt.Errorf("time span %q: unknown unit %q", s, m[2])
		}
		n, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			return 0, err
		}
		total += time.Duration(n * float64(unit))
		rest = rest[len(m[0]):]
	}
	return total, nil
}
