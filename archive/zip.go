package archive

import (
	"archive/zip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
)

// maxZipDirectory bounds a zip's central directory, which archive/zip holds
// in memory whole: 64 MiB is some 300,000 entries of 200-byte names.
const maxZipDirectory = 64 << 20

// readZip adds the entries of a zip archive.
func (b *builder) readZip(ra io.ReaderAt, size int64) error {
	if err := zipBounds(ra, size, b.lim.MaxEntries); err != nil {
		return err
	}
	zr, err := zip.NewReader(ra, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return fmt.Errorf("zip: %w", err)
	}
	for _, f := range zr.File {
		if err := b.zipEntry(f); err != nil {
			return err
		}
	}
	return nil
}

func (b *builder) zipEntry(f *zip.File) error {
	if strings.Contains(f.Name, `\`) {
		return unsafeEntry(f.Name, `name with a backslash, which zip tools read as a path separator`)
	}
	if f.Flags&0x1 != 0 {
		return unsafeEntry(f.Name, "encrypted entry")
	}
	mode := f.Mode()
	perm := int64(unixPerm(mode))
	if creator := f.CreatorVersion >> 8; creator != 3 && creator != 19 {
		// Not made on Unix or macOS: no permission bits worth keeping.
		perm = 0o644
		if mode.IsDir() {
			perm = 0o755
		}
	}
	switch {
	case mode&(fs.ModeDevice|fs.ModeCharDevice) != 0:
		return unsafeEntry(f.Name, "device node, which gitfleet does not deploy")
	case mode&fs.ModeNamedPipe != 0:
		return unsafeEntry(f.Name, "named pipe (FIFO), which gitfleet does not deploy")
	case mode&(fs.ModeSocket|fs.ModeIrregular) != 0:
		return unsafeEntry(f.Name, "socket or special file, which gitfleet does not deploy")
	case mode&fs.ModeSymlink != 0:
		target, err := b.zipLinkTarget(f)
		if err != nil {
			return err
		}
		return b.symlink(f.Name, target)
	case mode.IsDir():
		return b.dir(f.Name, perm)
	}
	if f.UncompressedSize64 > uint64(b.lim.MaxFileBytes) {
		return overLimit(f.Name, "file of %d bytes, more than the limit of %d", f.UncompressedSize64, b.lim.MaxFileBytes)
	}
	rc, err := f.Open()
	if err != nil {
		return fmt.Errorf("%s: zip: %w", clip(f.Name), err)
	}
	defer rc.Close()
	return b.file(f.Name, perm, int64(f.UncompressedSize64), rc)
}

// zipLinkTarget reads a link's target, the content of its entry.
func (b *builder) zipLinkTarget(f *zip.File) (string, error) {
	if f.UncompressedSize64 > maxPathBytes {
		return "", overLimit(f.Name, "symbolic link target longer than %d bytes", maxPathBytes)
	}
	rc, err := f.Open()
	if err != nil {
		return "", fmt.Errorf("%s: zip: %w", clip(f.Name), err)
	}
	defer rc.Close()
	t, err := io.ReadAll(io.LimitReader(rc, maxPathBytes+1))
	if err != nil {
		return "", fmt.Errorf("%s: zip: %w", clip(f.Name), err)
	}
	return string(t), nil
}

// zipBounds reads the end-of-central-directory record (and its zip64
// form) before archive/zip does, to refuse a directory that declares more
// entries or bytes than the limits before it is read into memory.
func zipBounds(ra io.ReaderAt, size int64, maxEntries int) error {
	const eocdLen, zip64LocLen, zip64Len = 22, 20, 56
	tail := int64(eocdLen + 65535)
	if tail > size {
		tail = size
	}
	buf := make([]byte, tail)
	if _, err := ra.ReadAt(buf, size-tail); err != nil && err != io.EOF {
		return fmt.Errorf("zip: %w", err)
	}
	i := strings.LastIndex(string(buf), "PK\x05\x06")
	if i < 0 || len(buf)-i < eocdLen {
		return nil // not a zip: archive/zip says so
	}
	le := binary.LittleEndian
	records, dirSize := uint64(le.Uint16(buf[i+10:])), uint64(le.Uint32(buf[i+12:]))
	if (records == 0xffff || dirSize == 0xffffffff) && i >= zip64LocLen && string(buf[i-zip64LocLen:i-zip64LocLen+4]) == "PK\x06\x07" {
		off := int64(le.Uint64(buf[i-zip64LocLen+8:]))
		rec := make([]byte, zip64Len)
		if off < 0 || off > size-zip64Len {
			return fmt.Errorf("zip: bad zip64 end of directory offset")
		}
		if _, err := ra.ReadAt(rec, off); err != nil {
			return fmt.Errorf("zip: %w", err)
		}
		if string(rec[:4]) == "PK\x06\x06" {
			records, dirSize = le.Uint64(rec[32:]), le.Uint64(rec[40:])
		}
	}
	if records > uint64(maxEntries) {
		return &EntryError{Entry: "(zip directory)", Reason: fmt.Sprintf("declares %d entries, more than the limit of %d", records, maxEntries), Err: ErrLimit}
	}
	if dirSize > maxZipDirectory {
		return &EntryError{Entry: "(zip directory)", Reason: fmt.Sprintf("central directory of %d bytes, more than %d", dirSize, maxZipDirectory), Err: ErrLimit}
	}
	return nil
}

// unixPerm converts Go's mode bits to the Unix permission word.
func unixPerm(m fs.FileMode) fs.FileMode {
	p := m.Perm()
	if m&fs.ModeSetuid != 0 {
		p |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		p |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		p |= 0o1000
	}
	return p
}
