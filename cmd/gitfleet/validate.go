package main

import (
	"fmt"
	"io"

	"github.com/gitfleet/gitfleet/config"
	"github.com/gitfleet/gitfleet/resolve"
	"github.com/gitfleet/gitfleet/source"
	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/tree"
	"github.com/spf13/cobra"
)

func newValidateCmd() *cobra.Command {
	var cfgFile string
	cmd := &cobra.Command{
		Use:   "validate [--config FILE] DIR",
		Short: "Check a desired-state directory without touching any server",
		Long: "validate loads every Environment, App and Release under DIR, checks them and\n" +
			"the artifacts they name, and prints every problem as file:line. With --config,\n" +
			"it also checks what gitfleet.yaml decides (environmentFiles.roots, databases,\n" +
			"limits, allowEmpty, the transport's port) without reading any secret or reaching\n" +
			"any server. Exit status 1 when there is a problem.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var opts spec.Options
			var limits tree.Limits
			if cfgFile != "" {
				c, err := config.Load(cfgFile)
				if err != nil {
					return &exitError{1, err}
				}
				opts = specOptions(c)
				switch {
				case c.Source.Directory != nil:
					limits.MaxBytes = c.Source.Directory.MaxBytes
				case c.Source.Git != nil:
					limits.MaxBytes = c.Source.Git.MaxBytes
				}
			}
			out := cmd.OutOrStdout()
			dir := &source.Dir{Path: args[0], Limits: limits}
			snap, err := dir.Snapshot(cmd.Context())
			if err != nil {
				return &exitError{1, err}
			}
			// No credentials: Git artifacts are not fetched here; plan and
			// the daemon check them.
			d, err := resolve.Resolve(cmd.Context(), snap, nil, opts)
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), err)
				noConfigNote(out, cfgFile)
				return &exitError{code: 1}
			}
			servers := 0
			for _, e := range d.Spec.Environments {
				servers += len(e.Servers)
			}
			fmt.Fprintf(out, "ok: %d environments (%d servers), %d apps, %d releases at revision %s\n",
				len(d.Spec.Environments), servers, len(d.Spec.Apps), len(d.Spec.Releases), snap.Short())
			if n := len(d.Spec.Releases) - len(d.Releases); n > 0 {
				fmt.Fprintf(out, "note: the Git artifacts of %d releases were not fetched; gitfleet plan checks their tags\n", n)
			}
			noConfigNote(out, cfgFile)
			return nil
		},
	}
	cmd.Flags().StringVar(&cfgFile, "config", "", "daemon configuration file to check against (roots, databases, limits, allowEmpty)")
	return cmd
}

// noConfigNote says what validate could not check without a configuration.
func noConfigNote(w io.Writer, cfgFile string) {
	if cfgFile == "" {
		fmt.Fprintln(w, "note: no --config: environmentFiles.roots and database targets were not checked, and the default limits applied")
	}
}
