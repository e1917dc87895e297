package ssh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/gitfleet/gitfleet/internal/proc"
	"github.com/gitfleet/gitfleet/spec"
	"golang.org/x/crypto/ssh"
)

// exec runs a command on the server with stdin, writing its output to
// stdout and stderr (nil discards). ctx ends the command: it is signalled
// and its channel closed. A connection found broken is dialled again once.
func (s *SSH) exec(ctx context.Context, srv *spec.Server, cmd string, stdin io.Reader, stdout, stderr io.Writer) error {
	for attempt := 0; ; attempt++ {
		cl, err := s.client(ctx, srv)
		if err != nil {
			return err
		}
		sess, err := cl.NewSession()
		if err != nil {
			s.drop(srv, cl)
			if attempt == 0 {
				continue
			}
			return fmt.Errorf("session on %s: %w", srv.Name, err)
		}
		defer sess.Close()
		// The session's copying goroutines may outlive a cancelled call:
		// the gates make sure nothing reaches the caller's buffers after
		// exec returned.
		outGate, errGate := &gate{w: stdout}, &gate{w: stderr}
		defer outGate.close()
		defer errGate.close()
		sess.Stdin = stdin
		if stdout != nil {
			sess.Stdout = outGate
		}
		if stderr != nil {
			sess.Stderr = errGate
		}
		if err := sess.Start(cmd); err != nil {
			return fmt.Errorf("start on %s: %w", srv.Name, err)
		}
		done := make(chan error, 1)
		go func() { done <- sess.Wait() }()
		select {
		case err = <-done:
		case <-ctx.Done():
			// OpenSSH may not deliver the signal; commands with a deadline
			// also carry a timeout of their own on the server (see Run).
			sess.Signal(ssh.SIGKILL)
			sess.Close()
			select {
			case <-done:
			case <-time.After(time.Second):
				// The connection does not answer: close it, which ends
				// the session.
				s.drop(srv, cl)
			}
			return ctx.Err()
		}
		var ee *ssh.ExitError
		var missing *ssh.ExitMissingError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &ee):
			return &ExitError{Code: ee.ExitStatus()}
		case errors.As(err, &missing):
			s.drop(srv, cl)
			return fmt.Errorf("connection to %s lost during the command: %w", srv.Name, err)
		}
		s.drop(srv, cl)
		return err
	}
}

// gate passes writes on until it is closed, then discards them.
type gate struct {
	mu     sync.Mutex
	w      io.Writer
	closed bool
}

// script runs a shell script on the server and returns its output; a
// failure carries the end of its standard error.
func (s *SSH) script(ctx context.Context, srv *spec.Server, script string, stdin io.Reader, args ...string) ([]byte, error) {
	var out bytes.Buffer
	var errOut proc.TailBuffer
	cmd := "sh -c " + shellQuote(script) + " sh"
	for _, a := range args {
		cmd += " " + shellQuote(a)
	}
	err := s.exec(ctx, srv, cmd, stdin, &out, &errOut)
	var ee *ExitError
	if errors.As(err, &ee) {
		ee.Stderr = strings.TrimSpace(string(errOut.Bytes()))
	}
	return out.Bytes(), err
}

// ExitError is a remote command that exited non-zero.
type ExitError struct {
	Code   int
	Stderr string
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func (g *gate) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return len(p), nil
	}
	return g.w.Write(p)
}

func (g *gate) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

func (e *ExitError) Error() string {
	if e.Stderr == "" {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return fmt.Sprintf("exit status %d: %s", e.Code, e.Stderr)
}
