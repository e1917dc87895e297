package secrets

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// manyValues is a YAML file of n secrets.
func manyValues(n int) []byte {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "key_%03d: value-%03d-%s\n", i, i, strings.Repeat("x", 24))
	}
	return []byte(b.String())
}

func TestKeysAndDigesterAreSafeForConcurrentUse(t *testing.T) {
	id := ids(t, 1)
	keys := keysOf(id...)
	data, err := Encrypt(manyValues(50), FormatYAML, recipientsOf(id...), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	d, _ := NewDigester([]byte(strings.Repeat("d", 32)))
	var wg sync.WaitGroup
	digests := make([]Digest, 8)
	for i := range digests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, err := keys.Decrypt("s.yaml", data, FormatAuto)
			if err != nil {
				t.Error(err)
				return
			}
			v, _ := f.Lookup("key_007")
			digests[i] = d.Value("key_007", v)
		}()
	}
	wg.Wait()
	for i, dg := range digests {
		if dg != digests[0] {
			t.Errorf("goroutine %d got digest %s, want %s", i, dg, digests[0])
		}
	}
}

// BenchmarkDecryptYAML100 decrypts and checks a SOPS file of 100 values.
func BenchmarkDecryptYAML100(b *testing.B) {
	id := ids(b, 1)
	keys := keysOf(id...)
	data, err := Encrypt(manyValues(100), FormatYAML, recipientsOf(id...), time.Now())
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := keys.Decrypt("s.yaml", data, FormatAuto); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInspectYAML100 checks the same file without keys.
func BenchmarkInspectYAML100(b *testing.B) {
	id := ids(b, 1)
	data, err := Encrypt(manyValues(100), FormatYAML, recipientsOf(id...), time.Now())
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Inspect("s.yaml", data, FormatAuto); err != nil {
			b.Fatal(err)
		}
	}
}
