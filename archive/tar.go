package archive

import (
	"archive/tar"
	"fmt"
	"io"

	"github.com/gitfleet/gitfleet/tree"
)

// readTar adds the entries of a tar stream, plain or compressed.
func (b *builder) readTar(r io.Reader) error {
	stream, done, err := decompress(r)
	if err != nil {
		return err
	}
	defer done()
	tr := tar.NewReader(stream)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("tar: %w", err)
		}
		if err := b.tarEntry(h, tr); err != nil {
			return err
		}
	}
}

func (b *builder) tarEntry(h *tar.Header, r io.Reader) error {
	switch h.Typeflag {
	case tar.TypeReg, tar.TypeGNUSparse:
		return b.file(h.Name, h.Mode, h.Size, r)
	case tar.TypeDir:
		return b.dir(h.Name, h.Mode)
	case tar.TypeSymlink:
		return b.symlink(h.Name, h.Linkname)
	case tar.TypeLink:
		return b.hardlink(h.Name, h.Linkname)
	case tar.TypeChar, tar.TypeBlock:
		return unsafeEntry(h.Name, "device node, which gitfleet does not deploy")
	case tar.TypeFifo:
		return unsafeEntry(h.Name, "named pipe (FIFO), which gitfleet does not deploy")
	case tar.TypeXGlobalHeader:
		return nil // PAX defaults for the entries that follow: applied by archive/tar
	}
	return unsafeEntry(h.Name, "unsupported tar entry type %s", tree.Escape(string(h.Typeflag)))
}
