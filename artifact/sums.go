package artifact

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"

	"github.com/gitfleet/gitfleet/blobcache"
)

// maxSumsBytes bounds a checksums file and a signature.
const maxSumsBytes = 1 << 20

// findSum returns the digest a SHA256SUMS file gives for the file name:
// lines "<64 hex>  name" or "<64 hex> *name" (sha256sum), or
// "SHA256 (name) = <64 hex>" (BSD, sha256sum --tag); a leading "./" of a
// name is ignored. Two different digests for the name are an error.
func findSum(data []byte, name string) (blobcache.Digest, error) {
	var found blobcache.Digest
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxSumsBytes)
	for n := 1; sc.Scan(); n++ {
		sum, file, ok := parseSumLine(strings.TrimRight(sc.Text(), "\r"))
		if !ok || strings.TrimPrefix(file, "./") != name {
			continue
		}
		d, err := blobcache.ParseDigest("sha256:" + strings.ToLower(sum))
		if err != nil {
			return "", fmt.Errorf("line %d: %w", n, err)
		}
		if found != "" && found != d {
			return "", fmt.Errorf("line %d: a second, different digest for %s", n, clip(name))
		}
		found = d
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	if found == "" {
		return "", fmt.Errorf("no line for %s: %w", clip(name), ErrNotFound)
	}
	return found, nil
}

func parseSumLine(line string) (sum, file string, ok bool) {
	if rest, isBSD := strings.CutPrefix(line, "SHA256 ("); isBSD {
		i := strings.LastIndex(rest, ") = ")
		if i < 0 {
			return "", "", false
		}
		return rest[i+4:], rest[:i], len(rest[i+4:]) == 64
	}
	if len(line) < 66 || line[64] != ' ' || (line[65] != ' ' && line[65] != '*') {
		return "", "", false // also sha256sum's escaped names ("\<hex>…")
	}
	return line[:64], line[66:], true
}
