package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fenceShells are the shells and lock kinds the script is tested with.
func fenceShells(t *testing.T) [][2]string {
	var out [][2]string
	for _, sh := range []string{"/bin/sh", "/bin/bash", "/bin/busybox"} {
		if _, err := os.Stat(sh); err != nil {
			continue
		}
		for _, lock := range []string{"flock", "mkdir"} {
			if lock == "flock" && sh != "/bin/busybox" {
				if _, err := exec.LookPath("flock"); err != nil {
					continue
				}
			}
			out = append(out, [2]string{sh, lock})
		}
	}
	if len(out) == 0 {
		t.Fatal("no POSIX shell at /bin/sh")
	}
	return out
}

// fenceRun runs FenceScript and then script in shell with the lock kind.
func fenceRun(shell, lock, dir, script string) (code int, stderr string) {
	args := []string{"-c", FenceScript + "\n" + script}
	if strings.HasSuffix(shell, "busybox") {
		args = append([]string{"sh"}, args...)
	}
	cmd := exec.Command(shell, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GITFLEET_FENCE_LOCK="+lock, "GITFLEET_FENCE_WAIT=20")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), errb.String()
	}
	if err != nil {
		return -1, err.Error()
	}
	return 0, errb.String()
}

func TestFenceScriptRefusesLowerTokens(t *testing.T) {
	for _, v := range fenceShells(t) {
		shell, lock := v[0], v[1]
		t.Run(filepath.Base(shell)+"-"+lock, func(t *testing.T) {
			dir := t.TempDir()
			fence := filepath.Join(dir, ".gitfleet", "fence")
			steps := []struct {
				token  int64
				marker string
				want   int
			}{
				{100, "first", 0},
				{100, "same", 0},
				{250, "newer", 0},
				{100, "stale", FenceRefused},
				{249, "stale2", FenceRefused},
				{251, "newest", 0},
			}
			// One shell for every call, as the executor's long-lived shell.
			var script strings.Builder
			for _, s := range steps {
				fmt.Fprintf(&script, "%s touch %s 2>>stderr; echo $? >>codes\n", FenceCall(fence, "production", s.token), s.marker)
			}
			if code, stderr := fenceRun(shell, lock, dir, script.String()); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			codes, _ := os.ReadFile(filepath.Join(dir, "codes"))
			stderr, _ := os.ReadFile(filepath.Join(dir, "stderr"))
			got := strings.Fields(string(codes))
			if len(got) != len(steps) {
				t.Fatalf("%d exit codes, want %d: %s", len(got), len(steps), stderr)
			}
			for i, s := range steps {
				_, statErr := os.Stat(filepath.Join(dir, s.marker))
				ran := statErr == nil
				if got[i] != strconv.Itoa(s.want) {
					t.Errorf("token %d: exit %s, want %d", s.token, got[i], s.want)
				}
				if ran != (s.want == 0) {
					t.Errorf("token %d: command ran=%v, want %v", s.token, ran, s.want == 0)
				}
			}
			if n := strings.Count(string(stderr), "refused"); n != 2 {
				t.Errorf("stderr says refused %d times, want 2: %s", n, stderr)
			}
			stored, _ := os.ReadFile(filepath.Join(fence, "production.token"))
			if strings.TrimSpace(string(stored)) != "251" {
				t.Errorf("stored token %q, want 251", stored)
			}
			// Another environment has its own fence.
			if code, stderr := fenceRun(shell, lock, dir, FenceCall(fence, "staging", 5)+" true"); code != 0 {
				t.Errorf("staging token 5: exit %d (%s)", code, stderr)
			}
		})
	}
}

func TestFenceScriptRefusesBrokenInput(t *testing.T) {
	for _, v := range fenceShells(t) {
		shell, lock := v[0], v[1]
		t.Run(filepath.Base(shell)+"-"+lock, func(t *testing.T) {
			dir := t.TempDir()
			fence := filepath.Join(dir, "fence")
			os.MkdirAll(fence, 0o755)
			outside := filepath.Join(dir, "outside")
			os.WriteFile(outside, []byte("keep\n"), 0o644)
			os.WriteFile(filepath.Join(fence, "corrupt.token"), []byte("12abc\n"), 0o644)
			os.Symlink(outside, filepath.Join(fence, "linked.token"))
			for _, tc := range []struct{ name, script string }{
				{"corrupt token file", FenceCall(fence, "corrupt", 5) + " touch ran"},
				{"symlinked token file", FenceCall(fence, "linked", 5) + " touch ran"},
				{"token not a number", "gitfleet_fence " + fence + " web 12x touch ran"},
				{"token zero", "gitfleet_fence " + fence + " web 0 touch ran"},
				{"environment with /", FenceCall(fence, "a/b", 5) + " touch ran"},
				{"no command", FenceCall(fence, "web", 5)},
			} {
				code, stderr := fenceRun(shell, lock, dir, tc.script)
				if code != FenceBroken {
					t.Errorf("%s: exit %d (%s), want %d", tc.name, code, stderr, FenceBroken)
				}
				if _, err := os.Stat(filepath.Join(dir, "ran")); err == nil {
					t.Fatalf("%s: the command ran", tc.name)
				}
			}
			if b, _ := os.ReadFile(outside); string(b) != "keep\n" {
				t.Errorf("the symlink's target was written: %q", b)
			}
		})
	}
}

// TestFenceScriptHoldsTheLockDuringTheWrite: a newer owner's call waits for
// an older owner's write under way, then runs; the older owner's next
// write is refused.
func TestFenceScriptHoldsTheLockDuringTheWrite(t *testing.T) {
	for _, v := range fenceShells(t) {
		shell, lock := v[0], v[1]
		t.Run(filepath.Base(shell)+"-"+lock, func(t *testing.T) {
			dir := t.TempDir()
			fence := filepath.Join(dir, "fence")
			// The old owner's write: say it started, wait for "go", then
			// record whether the new owner's write happened meanwhile.
			slow := `touch started; while [ ! -e go ]; do sleep 0.05; done; if [ -e newer ]; then echo overlap > result; else echo alone > result; fi`
			first := make(chan string, 1)
			go func() {
				code, stderr := fenceRun(shell, lock, dir, FenceCall(fence, "web", 10)+" sh -c "+shellQuote(slow))
				first <- strings.TrimSpace(stderr) + " exit " + strconv.Itoa(code)
			}()
			waitFile(t, filepath.Join(dir, "started"))
			second := make(chan int, 1)
			go func() {
				code, _ := fenceRun(shell, lock, dir, FenceCall(fence, "web", 11)+" touch newer")
				second <- code
			}()
			time.Sleep(300 * time.Millisecond) // a broken lock lets the second write through now
			os.WriteFile(filepath.Join(dir, "go"), nil, 0o644)
			if got := <-first; !strings.HasSuffix(got, "exit 0") {
				t.Fatalf("first write: %s", got)
			}
			if code := <-second; code != 0 {
				t.Fatalf("second write: exit %d", code)
			}
			if b, _ := os.ReadFile(filepath.Join(dir, "result")); strings.TrimSpace(string(b)) != "alone" {
				t.Errorf("the newer write ran during the older one: %q", b)
			}
			if code, _ := fenceRun(shell, lock, dir, FenceCall(fence, "web", 10)+" touch late"); code != FenceRefused {
				t.Errorf("the older owner's next write: exit %d, want %d", code, FenceRefused)
			}
		})
	}
}

// TestFenceScriptBreaksAStaleMkdirLock: a lock directory whose process is
// gone does not block the next write.
func TestFenceScriptBreaksAStaleMkdirLock(t *testing.T) {
	dir := t.TempDir()
	fence := filepath.Join(dir, "fence")
	dead := exec.Command("/bin/sh", "-c", "exit 0")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	lockdir := filepath.Join(fence, "web.lockdir")
	os.MkdirAll(lockdir, 0o755)
	os.WriteFile(filepath.Join(lockdir, "pid"), []byte(strconv.Itoa(dead.Process.Pid)+"\n"), 0o644)
	code, stderr := fenceRun("/bin/sh", "mkdir", dir, FenceCall(fence, "web", 3)+" touch ran")
	if code != 0 {
		t.Fatalf("exit %d (%s), want the stale lock broken", code, stderr)
	}
	if _, err := os.Stat(lockdir); err == nil {
		t.Error("the lock directory is left behind")
	}
}

func TestFenceCallQuotes(t *testing.T) {
	got := FenceCall("/srv/it's", "web", 42)
	if want := `gitfleet_fence '/srv/it'\''s' 'web' 42`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func waitFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never appeared", path)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestFenceLockIsNotInheritedByDaemons: a daemon started by a fenced
// command (systemctl-like, in the background) does not keep the lock.
func TestFenceLockIsNotInheritedByDaemons(t *testing.T) {
	for _, v := range fenceShells(t) {
		shell, lock := v[0], v[1]
		if lock != "flock" {
			continue
		}
		t.Run(filepath.Base(shell), func(t *testing.T) {
			dir := t.TempDir()
			fence := filepath.Join(dir, "fence")
			pidFile := filepath.Join(dir, "daemon.pid")
			daemon := exec.Command(shell, "-c", FenceScript+"\n"+FenceCall(fence, "web", 1)+" sh -c 'sleep 30 </dev/null >/dev/null 2>&1 & echo $! >"+pidFile+"'")
			if out, err := daemon.CombinedOutput(); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			defer func() {
				b, _ := os.ReadFile(pidFile)
				if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}()
			cmd := exec.Command(shell, "-c", FenceScript+"\n"+FenceCall(fence, "web", 2)+" true")
			cmd.Env = append(os.Environ(), "GITFLEET_FENCE_WAIT=2")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("the next write: %v: %s (the daemon holds the lock)", err, out)
			}
		})
	}
}
