package discovery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// commandSource runs a program every interval and reads the JSON list of
// servers it prints.
type commandSource struct {
	cfg CommandConfig
	env sourceEnv
}

// Bounds of a command's run.
const (
	// DefaultPath is the PATH a command runs with, unless its
	// configuration sets one.
	DefaultPath = "/usr/local/bin:/usr/bin:/bin"
	// maxStderr is how much of stderr is kept; maxQuotedStderr how much
	// of its end an error quotes.
	maxStderr       = 64 << 10
	maxQuotedStderr = 512
	// waitDelay bounds the wait for the command's pipes to close after it
	// was killed or exited (a child may hold them open).
	waitDelay = time.Second
)

// RunCommand runs a discovery command once, as the command source does:
// the servers it printed, and the entries rejected, each at its index. An
// error means the answer as a whole was refused (timeout, exit status,
// too much output, not a JSON list); env is the Environment's name.
func RunCommand(ctx context.Context, c CommandConfig, env string, maxServers int) ([]Server, []Rejection, error) {
	a, err := (&commandSource{cfg: c, env: sourceEnv{environment: env, maxServers: maxServers}}).once(ctx)
	return a.servers, a.rejected, err
}

func (s *commandSource) run(ctx context.Context, report func(result)) {
	for {
		a, err := s.once(ctx)
		if ctx.Err() != nil {
			return
		}
		report(result{answer: a, err: err})
		// Up to 10% jitter, so that many Environments do not run their
		// commands in step.
		if !sleep(ctx, s.cfg.Interval-time.Duration(randN(int64(s.cfg.Interval)/10+1))) {
			return
		}
	}
}

// environ is the command's whole environment: nothing of the daemon's but
// what PassEnv names.
func (s *commandSource) environ() []string {
	vars := map[string]string{"PATH": DefaultPath, "GITFLEET_ENVIRONMENT": s.env.environment}
	for _, k := range s.cfg.PassEnv {
		if v, ok := os.LookupEnv(k); ok {
			vars[k] = v
		}
	}
	for k, v := range s.cfg.Env {
		vars[k] = v
	}
	out := make([]string, 0, len(vars))
	for k, v := range vars {
		out = append(out, k+"="+v)
	}
	return out
}

// lookPath finds a program name in the command's PATH, not the daemon's.
func lookPath(prog string, env []string) (string, error) {
	if strings.Contains(prog, "/") {
		return prog, nil
	}
	path := DefaultPath
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" || !filepath.IsAbs(dir) {
			continue // a relative PATH entry would depend on the working directory
		}
		p := filepath.Join(dir, prog)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in PATH %s", prog, path)
}

// once runs the command and parses its output.
func (s *commandSource) once(ctx context.Context) (answer, error) {
	prog := s.cfg.Run[0]
	env := s.environ()
	path, err := lookPath(prog, env)
	if err != nil {
		return answer{}, err
	}
	ctx, cancel := context.WithTimeoutCause(ctx, s.cfg.Timeout, errTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, s.cfg.Run[1:]...)
	cmd.Env, cmd.Dir = env, "/"
	// Its own process group, so that a timeout kills what it started too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = waitDelay
	stdout := &capped{max: s.cfg.MaxOutputBytes, over: cancel}
	stderr := &capped{max: maxStderr, keepTail: true}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err = cmd.Run()
	switch {
	case stdout.exceeded():
		return answer{}, fmt.Errorf("output larger than maxOutputBytes (%d bytes): refused", s.cfg.MaxOutputBytes)
	case errors.Is(context.Cause(ctx), errTimeout):
		return answer{}, fmt.Errorf("no answer within %s: killed%s", s.cfg.Timeout, stderr.quote())
	case ctx.Err() != nil:
		return answer{}, ctx.Err()
	case err != nil:
		return answer{}, fmt.Errorf("%v%s", err, stderr.quote())
	}
	a, err := parseJSON(stdout.bytes(), KindCommand, "command "+prog, s.env.maxServers)
	if err != nil {
		return a, fmt.Errorf("%v%s", err, stderr.quote())
	}
	return a, nil
}

var errTimeout = errors.New("command timed out")

// capped is a bounded output buffer. Beyond max it either stops keeping
// (and calls over, once) or, with keepTail, keeps the last max bytes.
type capped struct {
	max      int64
	keepTail bool
	over     func()

	mu   sync.Mutex
	buf  []byte
	full bool
}

func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.keepTail:
		c.buf = append(c.buf, p...)
		if over := int64(len(c.buf)) - c.max; over > 0 {
			c.buf = append(c.buf[:0], c.buf[over:]...)
		}
	case c.full:
	case int64(len(c.buf)+len(p)) > c.max:
		c.full, c.buf = true, nil
		if c.over != nil {
			c.over()
		}
	default:
		c.buf = append(c.buf, p...)
	}
	return len(p), nil
}

func (c *capped) exceeded() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.full
}

func (c *capped) bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf
}

// quote is ": stderr: <its last line(s)>", bounded and on one line, or "".
func (c *capped) quote() string {
	b := bytes.TrimSpace(c.bytes())
	if len(b) == 0 {
		return ""
	}
	if len(b) > maxQuotedStderr {
		b = b[len(b)-maxQuotedStderr:]
		for len(b) > 0 && b[0]&0xc0 == 0x80 {
			b = b[1:]
		}
		b = append([]byte("…"), b...)
	}
	return ": stderr: " + strings.Join(strings.Fields(strings.ToValidUTF8(string(b), "?")), " ")
}
