package main

import (
	"encoding/json"
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
)

// commit and buildDate are set at build time, like version (main.go), with
// -ldflags "-X main.commit=... -X main.buildDate=..." (make dist does).
var (
	commit    = "unknown"
	buildDate = "unknown"
)

// buildInfo is what gitfleet version prints.
type buildInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	BuildDate string `json:"buildDate"`
	Go        string `json:"go"`
	Platform  string `json:"platform"`
}

func currentBuild() buildInfo {
	return buildInfo{
		Version:   version,
		Commit:    commit,
		BuildDate: buildDate,
		Go:        runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
}

func newVersionCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version [-o json]",
		Short: "Print the version, commit and build date",
		Long: "version prints the version, the commit it was built from and the build date,\n" +
			"as make dist sets them; a plain go build leaves them dev, unknown, unknown.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b := currentBuild()
			out := cmd.OutOrStdout()
			switch output {
			case "", "text":
				fmt.Fprintf(out, "gitfleet %s (%s %s)\ncommit: %s\nbuilt: %s\n", b.Version, b.Go, b.Platform, b.Commit, b.BuildDate)
			case "json":
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(b)
			default:
				return &exitError{1, fmt.Errorf("-o %q: want text or json", output)}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}
