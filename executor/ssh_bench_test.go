package executor_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/executor"
	"github.com/gitfleet/gitfleet/fleet"
	"github.com/gitfleet/gitfleet/internal/sshtest"
	"github.com/gitfleet/gitfleet/spec"
	sshtr "github.com/gitfleet/gitfleet/transport/ssh"
	"github.com/gitfleet/gitfleet/tree"
	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// The delivery benchmark of docs/benchmarks.md: a release of 2,000 files
// and 50 MB to 20 real sshd servers on this machine, then an update that
// changes 10 files, compared in the same run with a parallel `tar | ssh`
// loop (the near-physical limit), pkg/sftp with concurrent writes (the
// alternative to gitfleet's tar stream) and Ansible's synchronize module
// with forks=20. Every tool writes into directories of its own on the same
// servers. Ansible is skipped, with a message, when ansible-playbook or
// rsync is missing.
const (
	benchServers = 20
	benchFiles   = 2000
	benchBytes   = 50 << 20
	benchChanged = 10
)

// benchRelease writes the files of a release under dir and returns its
// tree: sizes spread around the mean, random (incompressible) content,
// 40 directories, a few executables and symlinks.
func benchRelease(b *testing.B, dir string) *tree.Tree {
	rng := rand.New(rand.NewPCG(1, 2))
	mean := benchBytes / benchFiles
	for i := 0; i < benchFiles; i++ {
		p := filepath.Join(dir, fmt.Sprintf("d%02d/f%04d.bin", i%40, i))
		size := mean/2 + rng.IntN(mean)
		data := make([]byte, size)
		for j := 0; j < len(data); j += 8 {
			v := rng.Uint64()
			for k := 0; k < 8 && j+k < len(data); k++ {
				data[j+k] = byte(v >> (8 * k))
			}
		}
		os.MkdirAll(filepath.Dir(p), 0o755)
		mode := os.FileMode(0o644)
		if i%100 == 0 {
			mode = 0o755
		}
		if err := os.WriteFile(p, data, mode); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < 5; i++ {
		os.Symlink(fmt.Sprintf("d%02d/f%04d.bin", i, i), filepath.Join(dir, fmt.Sprintf("link%d", i)))
	}
	t, err := tree.ReadDir(dir, tree.Limits{})
	if err != nil {
		b.Fatal(err)
	}
	return t
}

// changeFiles rewrites n files under dir and returns the new tree.
func changeFiles(b *testing.B, dir string, n int, round int) *tree.Tree {
	for i := 0; i < n; i++ {
		p := filepath.Join(dir, fmt.Sprintf("d%02d/f%04d.bin", (i*197)%40, (i*197)%benchFiles))
		data, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		copy(data, fmt.Sprintf("round %d change %d ", round, i))
		if err := os.WriteFile(p, data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	t, err := tree.ReadDir(dir, tree.Limits{})
	if err != nil {
		b.Fatal(err)
	}
	return t
}

// onAll runs fn for every server at once and fails on the first error.
func onAll(b *testing.B, f *sshtest.Fleet, fn func(i int, s *sshtest.Server) error) time.Duration {
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, len(f.Servers))
	for i, s := range f.Servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn(i, s)
		}()
	}
	wg.Wait()
	d := time.Since(start)
	for i, err := range errs {
		if err != nil {
			b.Fatalf("%s: %v", f.Servers[i].Name, err)
		}
	}
	return d
}

func timed(b *testing.B, fn func() error) time.Duration {
	start := time.Now()
	if err := fn(); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

func sshArgs(f *sshtest.Fleet, s *sshtest.Server) []string {
	return []string{"-i", f.Key, "-p", strconv.Itoa(s.Port), "-o", "BatchMode=yes", "-o", "UserKnownHostsFile=" + f.KnownHosts,
		"-o", "StrictHostKeyChecking=yes", "-o", "ControlMaster=no", f.User + "@" + s.Host}
}

// tarSSH is the plain loop: tar the directory into ssh, unpack remotely.
func tarSSH(f *sshtest.Fleet, s *sshtest.Server, dir, dest string) error {
	cmd := exec.Command("sh", "-c", `tar -C "$0" -cf - . | ssh "$@"`, dir)
	cmd.Args = append(cmd.Args, sshArgs(f, s)...)
	cmd.Args = append(cmd.Args, "mkdir -p "+dest+" && tar -C "+dest+" -xf -")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}

// sftpUpload sends the tree with pkg/sftp into a temporary directory and
// renames it, the way Stage would have to: eight files in flight per
// server, concurrent writes within a file.
func sftpUpload(f *sshtest.Fleet, s *sshtest.Server, t *tree.Tree, dest string) error {
	key, err := os.ReadFile(f.Key)
	if err != nil {
		return err
	}
	signer, err := ssh.ParsePrivateKey(key)
	if err != nil {
		return err
	}
	hk, err := knownhosts.New(f.KnownHosts)
	if err != nil {
		return err
	}
	cl, err := ssh.Dial("tcp", net.JoinHostPort(s.Host, strconv.Itoa(s.Port)), &ssh.ClientConfig{
		User: f.User, Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)}, HostKeyCallback: hk,
		HostKeyAlgorithms: []string{ssh.KeyAlgoED25519}})
	if err != nil {
		return err
	}
	defer cl.Close()
	sc, err := sftp.NewClient(cl, sftp.UseConcurrentWrites(true))
	if err != nil {
		return err
	}
	defer sc.Close()
	tmp := path.Join(path.Dir(dest), ".tmp-"+path.Base(dest))
	if err := sc.MkdirAll(tmp); err != nil {
		return err
	}
	var files []*tree.Entry
	for _, e := range t.Entries() {
		p := path.Join(tmp, e.Path)
		switch e.Kind {
		case tree.Dir:
			if err := sc.Mkdir(p); err != nil {
				return err
			}
		case tree.Symlink:
			if err := sc.Symlink(e.Target, p); err != nil {
				return err
			}
		case tree.File:
			files = append(files, e)
		}
	}
	work := make(chan *tree.Entry)
	errc := make(chan error, 8)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for e := range work {
				fh, err := sc.OpenFile(path.Join(tmp, e.Path), os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
				if err == nil {
					_, err = fh.ReadFrom(strings.NewReader(string(e.Data)))
					if cerr := fh.Close(); err == nil {
						err = cerr
					}
				}
				if err == nil {
					err = sc.Chmod(path.Join(tmp, e.Path), e.Perm)
				}
				if err != nil {
					select {
					case errc <- fmt.Errorf("%s: %w", e.Path, err):
					default:
					}
				}
			}
		}()
	}
	for _, e := range files {
		work <- e
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
	}
	return sc.PosixRename(tmp, dest)
}

// ansibleSync runs ansible.posix.synchronize from dir to dest on every
// server with forks=20.
func ansibleSync(f *sshtest.Fleet, work, dir, dest string) error {
	var inv strings.Builder
	inv.WriteString("[fleet]\n")
	for _, s := range f.Servers {
		fmt.Fprintf(&inv, "%s ansible_host=%s ansible_port=%d\n", s.Name, s.Host, s.Port)
	}
	fmt.Fprintf(&inv, "[fleet:vars]\nansible_user=%s\nansible_ssh_private_key_file=%s\n"+
		"ansible_ssh_common_args='-o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes'\n", f.User, f.Key, f.KnownHosts)
	invFile := filepath.Join(work, "inventory")
	play := filepath.Join(work, "sync.yaml")
	os.WriteFile(invFile, []byte(inv.String()), 0o644)
	os.WriteFile(play, []byte(`- hosts: fleet
  gather_facts: false
  tasks:
    - ansible.posix.synchronize:
        src: `+dir+`/
        dest: `+dest+`/
        archive: true
        delete: true
`), 0o644)
	cmd := exec.Command("ansible-playbook", "-i", invFile, "-f", strconv.Itoa(benchServers), play)
	cmd.Env = append(os.Environ(), "ANSIBLE_HOST_KEY_CHECKING=False", "ANSIBLE_NOCOLOR=1", "ANSIBLE_LOCAL_TEMP="+work, "ANSIBLE_RETRY_FILES_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ansible-playbook: %v\n%s", err, out)
	}
	return nil
}

func BenchmarkSSHDelivery(b *testing.B) {
	f := sshtest.Start(b, benchServers, "bench")
	work := b.TempDir()
	src := filepath.Join(work, "release")
	v1 := benchRelease(b, src)
	ansible := ""
	for _, tool := range []string{"ansible-playbook", "rsync"} {
		if _, err := exec.LookPath(tool); err != nil {
			ansible = tool + " is missing (Debian: apt-get install ansible rsync)"
		}
	}
	if ansible != "" {
		b.Logf("Ansible comparison skipped: %s", ansible)
	}
	key, err := os.ReadFile(f.Key)
	if err != nil {
		b.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(key)
	if err != nil {
		b.Fatal(err)
	}
	var servers []*spec.Server
	for _, s := range f.Servers {
		servers = append(servers, &spec.Server{Name: s.Name, Host: s.Host, Port: s.Port})
	}
	clean := func(name string) {
		for _, s := range f.Servers {
			exec.Command("rm", "-rf", filepath.Join(s.Root, name)).Run()
		}
	}
	ctx := context.Background()
	var totals map[string]time.Duration
	var sentFull, sentUpdate int64
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		totals = map[string]time.Duration{}
		rel1 := fleet.NewRelease("v1", v1)
		app := &spec.App{Name: "bench", DeployTo: "/srv/gitfleet", KeepReleases: 5, Activate: "true", ActivateTimeout: 10 * time.Second}
		tr := &sshtr.SSH{User: f.User, Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)}, KnownHosts: f.KnownHosts}
		x := &executor.Executor{T: tr}
		req := func(rel fleet.Release, i int) fleet.Request {
			return fleet.Request{Environment: "bench", App: app, Server: servers[i], Release: rel, Revision: rel.Version, Log: slog.New(slog.DiscardHandler)}
		}

		// Full delivery: a fresh transport, so its handshakes count too.
		totals["gitfleet full"] = onAll(b, f, func(i int, _ *sshtest.Server) error { return x.Stage(ctx, req(rel1, i)) })
		sentFull = tr.Sent()
		totals["tar|ssh full"] = onAll(b, f, func(_ int, s *sshtest.Server) error { return tarSSH(f, s, src, "/srv/tar") })
		totals["sftp full"] = onAll(b, f, func(_ int, s *sshtest.Server) error { return sftpUpload(f, s, v1, "/srv/sftp") })
		clean("sftp")
		if ansible == "" {
			totals["ansible full"] = timed(b, func() error { return ansibleSync(f, work, src, "/srv/ansible") })
		}

		// Activation of the pre-staged release, connections kept as the
		// daemon keeps them.
		totals["gitfleet activate"] = onAll(b, f, func(i int, _ *sshtest.Server) error { return x.Activate(ctx, req(rel1, i)) })

		// The update: 10 files changed.
		b.StopTimer()
		v2 := changeFiles(b, src, benchChanged, n)
		b.StartTimer()
		rel2 := fleet.NewRelease(fmt.Sprintf("v2.%d", n), v2)
		before := tr.Sent()
		totals["gitfleet update"] = onAll(b, f, func(i int, _ *sshtest.Server) error { return x.Stage(ctx, req(rel2, i)) })
		sentUpdate = tr.Sent() - before
		totals["tar|ssh update"] = onAll(b, f, func(_ int, s *sshtest.Server) error { return tarSSH(f, s, src, "/srv/tar") })
		if ansible == "" {
			totals["ansible update"] = timed(b, func() error { return ansibleSync(f, work, src, "/srv/ansible") })
		}
		tr.Close()
		b.StopTimer()
		for _, name := range []string{"gitfleet", "tar", "ansible"} {
			clean(name)
		}
		// Put the first version back for the next round.
		v1 = benchRelease(b, src)
		b.StartTimer()
	}
	b.StopTimer()
	sec := func(k string) float64 { return totals[k].Seconds() }
	for _, k := range []string{"gitfleet full", "tar|ssh full", "sftp full", "ansible full", "gitfleet update", "tar|ssh update", "ansible update", "gitfleet activate"} {
		if _, ok := totals[k]; ok {
			b.ReportMetric(sec(k), strings.NewReplacer(" ", "-", "|", "").Replace(k)+"-s")
		}
	}
	b.ReportMetric(sec("gitfleet full")/sec("tar|ssh full"), "full/tar-ssh")
	b.ReportMetric(sec("sftp full")/sec("gitfleet full"), "sftp/full")
	b.ReportMetric(sec("gitfleet full")/sec("gitfleet update"), "full/update")
	if ansible == "" {
		b.ReportMetric(sec("ansible full")/sec("gitfleet full"), "ansible/full")
		b.ReportMetric(sec("ansible update")/sec("gitfleet update"), "ansible/update")
	}
	b.ReportMetric(float64(sentFull)/benchServers, "sent-full-B/server")
	b.ReportMetric(float64(sentUpdate)/benchServers, "sent-update-B/server")
}
