package discovery

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// fileSource reads a JSON or YAML file of servers and watches it. It
// watches the file's directory, not the file: editors and Terraform
// replace a file by writing another and renaming it over the first, which
// ends a watch on the file itself.
type fileSource struct {
	cfg FileConfig
	env sourceEnv
}

// ReadFile reads a discovery file once: the servers it lists, and the
// entries it rejects, each at its file:line. An error means the file as a
// whole could not be used (missing, too large, not a list).
func ReadFile(path string, maxServers int) ([]Server, []Rejection, error) {
	a, _, err := readFile(path, maxServers)
	return a.servers, a.rejected, err
}

func readFile(path string, maxServers int) (answer, [32]byte, error) {
	var sum [32]byte
	// O_NONBLOCK: a FIFO put in the file's place must not hang the read.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return answer{}, sum, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return answer{}, sum, err
	}
	if !st.Mode().IsRegular() {
		return answer{}, sum, fmt.Errorf("%s is not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return answer{}, sum, err
	}
	if len(data) > MaxFileBytes {
		return answer{}, sum, fmt.Errorf("%s is larger than %d bytes", path, MaxFileBytes)
	}
	sum = sha256.Sum256(data)
	a, err := parseYAML(data, path, maxServers)
	return a, sum, err
}

// run reads the file at once, after every change (debounced), and every
// Rescan in case an event was missed. Unchanged content is not reported
// again unless the read before it failed.
func (s *fileSource) run(ctx context.Context, report func(result)) {
	dir := filepath.Dir(s.cfg.Path)
	w, err := fsnotify.NewWatcher()
	if err != nil {
		report(result{err: fmt.Errorf("watch %s: %w", dir, err)})
		return
	}
	defer w.Close()
	watching := w.Add(dir) == nil

	var last [32]byte
	failed := true // the first good read is always reported
	read := func() {
		a, sum, err := readFile(s.cfg.Path, s.env.maxServers)
		switch {
		case err != nil:
			failed = true
			report(result{err: err})
		case failed || sum != last:
			failed, last = false, sum
			report(result{answer: a})
		}
	}

	debounce := time.NewTimer(0) // read at once
	defer debounce.Stop()
	rescan := time.NewTicker(s.cfg.Rescan)
	defer rescan.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.Events:
			if !ok {
				report(result{err: errors.New("watch: event channel closed")})
				return
			}
			if ev.Name == dir && ev.Has(fsnotify.Remove|fsnotify.Rename) {
				watching = false // the directory itself went away
			}
			// Any event of the directory: the file, a temporary file
			// renamed over it, or a symbolic link swapped under it.
			debounce.Reset(s.cfg.Debounce)
		case err, ok := <-w.Errors:
			if !ok {
				report(result{err: errors.New("watch: error channel closed")})
				return
			}
			s.env.log.Warn("watch discovery file", "path", s.cfg.Path, "err", err)
			debounce.Reset(s.cfg.Debounce)
		case <-rescan.C:
			if !watching {
				watching = w.Add(dir) == nil
			}
			read()
		case <-debounce.C:
			read()
		}
	}
}
