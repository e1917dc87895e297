package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// newManCmd is the hidden "gitfleet man DIR": it writes one man page
// (section 1) per command of the tree it belongs to, for the packages that
// make dist builds. The pages' date is the build date when it is known,
// otherwise SOURCE_DATE_EPOCH or today, so a release build is reproducible.
func newManCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "man DIR",
		Short:  "Write the man pages of every command into DIR",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return &exitError{1, fmt.Errorf("man pages: %w", err)}
			}
			root := cmd.Root()
			root.DisableAutoGenTag = true
			escapeForMan(root)
			header := &doc.GenManHeader{
				Section: "1",
				Source:  "gitfleet " + version,
				Manual:  "gitfleet manual",
			}
			if t, err := time.Parse(time.RFC3339, buildDate); err == nil {
				header.Date = &t
			}
			if err := doc.GenManTree(root, header, dir); err != nil {
				return &exitError{1, fmt.Errorf("man pages in %s: %w", dir, err)}
			}
			return nil
		},
	}
}

// escapeForMan keeps the descriptions of c and its subcommands, which are
// plain text, from being read as Markdown by the man page renderer:
// "<stateDir>" would be taken for an HTML tag and dropped.
func escapeForMan(c *cobra.Command) {
	c.Long = strings.NewReplacer("<", `\<`, ">", `\>`).Replace(c.Long)
	for _, sub := range c.Commands() {
		escapeForMan(sub)
	}
}
