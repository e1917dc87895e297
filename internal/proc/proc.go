// Package proc runs commands on the daemon's own machine the one way
// gitfleet runs them: with /bin/sh, in a process group of their own that is
// killed whole when the context ends, with a small, fixed part of the
// daemon's environment, and with bounded output.
package proc

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Shell returns a command that runs command with /bin/sh under ctx: killed
// with its whole process group when ctx ends, its pipes given up waitDelay
// after that. env is added to BaseEnv.
func Shell(ctx context.Context, command string, waitDelay time.Duration, env ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", command)
	cmd.Env = append(BaseEnv(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = waitDelay
	return cmd
}

// BaseEnv is the part of the daemon's environment a command inherits.
func BaseEnv() []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "LANG", "TZ", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// TailBuffer keeps the last TailMax bytes written to it; it is safe for
// concurrent writers.
type TailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// TailMax is how much a TailBuffer keeps.
const TailMax = 64 << 10

func (t *TailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if t.buf.Len() > TailMax {
		b := t.buf.Bytes()
		keep := append([]byte(nil), b[len(b)-TailMax:]...)
		t.buf.Reset()
		t.buf.Write(keep)
	}
	return len(p), nil
}

// Bytes is a copy of what the buffer keeps.
func (t *TailBuffer) Bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]byte(nil), t.buf.Bytes()...)
}
