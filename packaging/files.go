package packaging

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// shipped holds the files the packages install besides the binary and the
// man pages.
//
//go:embed files
var shipped embed.FS

// Names of the shipped files in files/.
const (
	UnitFile        = "gitfleet.service"
	ConfigFile      = "gitfleet.yaml"
	SysusersFile    = "sysusers.conf"
	PostInstallFile = "postinstall.sh"
	PreRemoveFile   = "preremove.sh"
	PostRemoveFile  = "postremove.sh"
)

// Where the packages install them.
const (
	BinaryPath   = "/usr/bin/gitfleet"
	UnitPath     = "/usr/lib/systemd/system/gitfleet.service"
	ConfigPath   = "/etc/gitfleet/gitfleet.yaml"
	SysusersPath = "/usr/lib/sysusers.d/gitfleet.conf"
	ManDir       = "/usr/share/man/man1"
	DocDir       = "/usr/share/doc/gitfleet"
)

// Shipped returns the content of a file of files/ (UnitFile, ConfigFile ...).
func Shipped(name string) ([]byte, error) {
	return fs.ReadFile(shipped, "files/"+name)
}

// writeShipped copies every file of files/ into dir, scripts executable,
// for nfpm and the archives, which read files from disk.
func writeShipped(dir string) error {
	entries, err := fs.ReadDir(shipped, "files")
	if err != nil {
		return err
	}
	for _, e := range entries {
		data, err := Shipped(e.Name())
		if err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if filepath.Ext(e.Name()) == ".sh" {
			mode = 0o755
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), data, mode); err != nil {
			return fmt.Errorf("write %s: %w", e.Name(), err)
		}
	}
	return nil
}
