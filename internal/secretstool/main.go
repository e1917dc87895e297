// Command secretstool encrypts files for gitfleet's environment lane with
// age recipients, in the SOPS format (YAML, JSON, dotenv, binary) or as
// plain age files, without the sops command:
//
//	go run ./internal/secretstool encrypt -r age1... -o secrets/prod.sops.yaml prod.yaml
//	go run ./internal/secretstool rotate -k old.key -r age1new... secrets/prod.sops.yaml
//	go run ./internal/secretstool inspect secrets/prod.sops.yaml
//	go run ./internal/secretstool check -k /etc/gitfleet/age.key secrets/prod.sops.yaml
//
// It never prints a decrypted value. See docs/secrets.md.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gitfleet/gitfleet/secrets"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, time.Now()))
}

const usage = `usage:
  secretstool encrypt [-r RECIPIENT]... [-R FILE]... [-format F] [-armor] [-o OUT] IN|-
  secretstool rotate -k KEYFILE... [-r RECIPIENT]... [-R FILE]... [-format F] [-o OUT] FILE
  secretstool inspect [-format F] FILE...
  secretstool check -k KEYFILE... [-format F] FILE...
formats: yaml, json, dotenv, binary, age (default: by the output's or the file's name)
`

// list is a repeatable flag.
type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(s string) error { *l = append(*l, s); return nil }

// run is the command with its arguments, streams and clock.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer, now time.Time) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	var recipients, recipientFiles, keyFiles list
	fs.Var(&recipients, "r", "a recipient: age1..., age1pq1... or ssh-ed25519 ... (repeatable)")
	fs.Var(&recipientFiles, "R", "a file of recipients, one per line (repeatable)")
	fs.Var(&keyFiles, "k", "an age identity file (repeatable)")
	format := fs.String("format", "", "yaml, json, dotenv, binary or age")
	out := fs.String("o", "", "the output file (encrypt: default stdout; rotate: default FILE, replaced)")
	armor := fs.Bool("armor", false, "encrypt: write a .age file armored (text)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	f, err := secrets.ParseFormat(*format)
	if err == nil {
		var rs []string
		if rs, err = readRecipients(recipients, recipientFiles); err == nil {
			err = dispatch(args[0], fs.Args(), f, rs, keyFiles, *out, *armor, stdin, stdout, now)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "secretstool %s: %v\n", args[0], err)
		if errors.Is(err, errUsage) {
			fmt.Fprint(stderr, usage)
			return 2
		}
		return 1
	}
	return 0
}

var errUsage = errors.New("bad usage")

func dispatch(cmd string, files []string, f secrets.Format, rs, keyFiles []string, out string, armor bool, stdin io.Reader, stdout io.Writer, now time.Time) error {
	switch cmd {
	case "encrypt":
		if len(files) != 1 {
			return fmt.Errorf("%w: encrypt takes one input file", errUsage)
		}
		return encrypt(files[0], out, f, rs, armor, stdin, stdout, now)
	case "rotate":
		if len(files) != 1 || len(keyFiles) == 0 {
			return fmt.Errorf("%w: rotate takes -k and one file", errUsage)
		}
		return rotate(files[0], out, f, rs, keyFiles, now)
	case "inspect":
		return inspect(files, f, stdout)
	case "check":
		if len(keyFiles) == 0 {
			return fmt.Errorf("%w: check takes -k", errUsage)
		}
		return check(files, f, keyFiles, stdout)
	}
	return fmt.Errorf("%w: unknown command %q", errUsage, cmd)
}

// readRecipients joins -r and the lines of -R files.
func readRecipients(rs, files []string) ([]string, error) {
	out := append([]string(nil), rs...)
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
				out = append(out, l)
			}
		}
	}
	return out, nil
}

func encrypt(in, out string, f secrets.Format, rs []string, armor bool, stdin io.Reader, stdout io.Writer, now time.Time) error {
	var plain []byte
	var err error
	if in == "-" {
		plain, err = io.ReadAll(io.LimitReader(stdin, secrets.MaxFileBytes+1))
	} else {
		plain, err = os.ReadFile(in)
	}
	if err != nil {
		return err
	}
	if f == secrets.FormatAuto {
		name := out
		if name == "" {
			name = in
		}
		f = secrets.FormatOf(name)
	}
	var enc []byte
	if f == secrets.FormatAge {
		enc, err = secrets.EncryptAge(plain, rs, armor)
	} else {
		enc, err = secrets.Encrypt(plain, f, rs, now)
	}
	if err != nil {
		return err
	}
	if out == "" {
		_, err = stdout.Write(enc)
		return err
	}
	return writeAtomic(out, enc)
}

func rotate(file, out string, f secrets.Format, rs, keyFiles []string, now time.Time) error {
	keys, err := secrets.LoadKeys(keyFiles...)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if len(rs) == 0 {
		info, err := secrets.Inspect(file, data, f)
		if err != nil {
			return err
		}
		rs = info.Recipients // a new data key for the same recipients
	}
	enc, err := keys.Rotate(file, data, f, rs, now)
	if err != nil {
		return err
	}
	if out == "" {
		out = file
	}
	return writeAtomic(out, enc)
}

func inspect(files []string, f secrets.Format, stdout io.Writer) error {
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		info, err := secrets.Inspect(p, data, f)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: %s\n", p, info.Format)
		for _, r := range info.Recipients {
			fmt.Fprintf(stdout, "  recipient %s\n", secrets.PublicKeyText(r))
		}
		for _, s := range info.Stanzas {
			fmt.Fprintf(stdout, "  age stanza %s\n", s)
		}
		for _, o := range info.OtherKeys {
			fmt.Fprintf(stdout, "  also for %s (not used by gitfleet)\n", o)
		}
		if !info.LastModified.IsZero() {
			fmt.Fprintf(stdout, "  last modified %s\n", info.LastModified.Format(time.RFC3339))
		}
		for _, n := range info.Names {
			fmt.Fprintf(stdout, "  value %s\n", n)
		}
	}
	return nil
}

func check(files []string, f secrets.Format, keyFiles []string, stdout io.Writer) error {
	keys, err := secrets.LoadKeys(keyFiles...)
	if err != nil {
		return err
	}
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		file, err := keys.Decrypt(p, data, f)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: decrypts, %d values\n", p, max(len(file.Names()), 1))
	}
	return nil
}

// writeAtomic replaces path with data: a temporary file beside it,
// renamed over it.
func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
