package main

import (
	"fmt"

	"github.com/gitfleet/gitfleet/reconcile"
	"github.com/gitfleet/gitfleet/source"
	"github.com/spf13/cobra"
)

func newValidateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate DIR",
		Short: "Check a desired-state directory without touching any server",
		Long: "validate loads every Environment, App and Release under DIR, checks them and\n" +
			"the artifacts they name, and prints every problem as file:line. Exit status 1\n" +
			"when there is a problem.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := &source.Dir{Path: args[0]}
			snap, err := dir.Snapshot(cmd.Context())
			if err != nil {
				return &exitError{1, err}
			}
			// No configuration, no credentials: Git artifacts are not
			// fetched here; plan and the daemon check them.
			d, err := reconcile.Resolve(cmd.Context(), snap, nil)
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), err)
				return &exitError{code: 1}
			}
			servers := 0
			for _, e := range d.Spec.Environments {
				servers += len(e.Servers)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ok: %d environments (%d servers), %d apps, %d releases at revision %s\n",
				len(d.Spec.Environments), servers, len(d.Spec.Apps), len(d.Spec.Releases), snap.Short())
			if n := len(d.Spec.Releases) - len(d.Releases); n > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "note: the Git artifacts of %d releases were not fetched; gitfleet plan checks their tags\n", n)
			}
			return nil
		},
	}
}
