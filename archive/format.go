package archive

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// Format is an archive format.
type Format string

// The formats. A tar, tar.gz and tar.zst are told apart by their first
// bytes when read, so a format only decides between tar and zip; the
// names are what configurations and URLs say.
const (
	Tar    Format = "tar"
	TarGz  Format = "tar.gz"
	TarZst Format = "tar.zst"
	Zip    Format = "zip"
)

// Formats lists the formats, for messages.
const Formats = "tar, tar.gz, tar.zst or zip"

// ParseFormat checks a format name.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case Tar, TarGz, TarZst, Zip:
		return f, nil
	case "tgz":
		return TarGz, nil
	case "tzst":
		return TarZst, nil
	}
	return "", fmt.Errorf("format %q: want %s", clip(s), Formats)
}

// FormatOf is the format a file name's extension says: .tar, .tar.gz or
// .tgz, .tar.zst or .tzst, .zip.
func FormatOf(name string) (Format, error) {
	n := strings.ToLower(name)
	for _, s := range []struct {
		ext string
		f   Format
	}{{".tar.gz", TarGz}, {".tgz", TarGz}, {".tar.zst", TarZst}, {".tzst", TarZst}, {".tar", Tar}, {".zip", Zip}} {
		if strings.HasSuffix(n, s.ext) {
			return s.f, nil
		}
	}
	return "", fmt.Errorf("%s: the extension names no archive format (want .tar, .tar.gz, .tgz, .tar.zst, .tzst or .zip; or say format)", clip(name))
}

// maxZstdWindow bounds the memory a zstd stream may ask for. zstd's levels
// up to 19 use at most 8 MiB; --long and --ultra ask for more.
const maxZstdWindow = 64 << 20

var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// decompress returns the tar stream inside r: r itself, or r through gzip
// or zstd, by its first bytes.
func decompress(r io.Reader) (io.Reader, func(), error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(4)
	switch {
	case bytes.HasPrefix(head, gzipMagic):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("gzip: %w", err)
		}
		return zr, func() { zr.Close() }, nil
	case bytes.HasPrefix(head, zstdMagic):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(maxZstdWindow), zstd.WithDecoderMaxMemory(maxZstdWindow))
		if err != nil {
			return nil, nil, fmt.Errorf("zstd: %w", err)
		}
		return zstdErrors{zr}, zr.Close, nil
	}
	return br, func() {}, nil
}

// zstdErrors says what a refused window means.
type zstdErrors struct{ r io.Reader }

func (z zstdErrors) Read(p []byte) (int, error) {
	n, err := z.r.Read(p)
	if errors.Is(err, zstd.ErrWindowSizeExceeded) || errors.Is(err, zstd.ErrDecoderSizeExceeded) {
		err = fmt.Errorf("zstd: the stream needs a window of more than %d MiB (made with --long or --ultra?): %w", maxZstdWindow>>20, ErrLimit)
	}
	return n, err
}
