package gittest

import (
	"bufio"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// BigRemote makes a bare repository with files files in its first commit
// and commits commits in all on branch main, each later commit changing two
// files, with git fast-import. It returns the bare repository's path.
func BigRemote(t testing.TB, root, name string, files, commits int) string {
	t.Helper()
	need(t)
	bare := filepath.Join(root, name+".git")
	Git(t, root, "init", "-q", "--bare", "-b", "main", bare)
	cmd := exec.Command("git", "fast-import", "--quiet")
	cmd.Dir = bare
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(in, 1<<20)
	for c := 1; c <= commits; c++ {
		msg := fmt.Sprintf("commit %d\n", c)
		fmt.Fprintf(w, "commit refs/heads/main\ncommitter Ada <ada@example.com> %d +0000\ndata %d\n%s", 1700000000+c, len(msg), msg)
		if c == 1 {
			for f := 0; f < files; f++ {
				writeFile(w, f, 0)
			}
		} else {
			writeFile(w, (c*7)%files, c)
			writeFile(w, (c*13)%files, c)
		}
	}
	w.Flush()
	in.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("git fast-import: %v", err)
	}
	return bare
}

// AddCommit adds one commit changing one file to branch main of a bare
// repository, with git fast-import, and returns its hash.
func AddCommit(t testing.TB, bare string, n int) string {
	t.Helper()
	msg := fmt.Sprintf("extra %d\n", n)
	var b strings.Builder
	fmt.Fprintf(&b, "commit refs/heads/main\ncommitter Ada <ada@example.com> %d +0000\ndata %d\n%sfrom refs/heads/main^0\n", 1800000000+n, len(msg), msg)
	content := fmt.Sprintf("extra content %d\n", n)
	fmt.Fprintf(&b, "M 100644 inline extra/file-%d.txt\ndata %d\n%s", n%50, len(content), content)
	cmd := exec.Command("git", "fast-import", "--quiet")
	cmd.Dir = bare
	cmd.Stdin = strings.NewReader(b.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git fast-import: %v\n%s", err, out)
	}
	return Git(t, bare, "rev-parse", "main")
}

func writeFile(w *bufio.Writer, f, version int) {
	content := fmt.Sprintf("file %d version %d\n%s", f, version, strings.Repeat("lorem ipsum dolor sit amet ", 3))
	fmt.Fprintf(w, "M 100644 inline dir-%02d/sub-%02d/file-%05d.txt\ndata %d\n%s\n", f%97, f%13, f, len(content), content)
}
