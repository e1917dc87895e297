package main

import (
	"fmt"

	"github.com/gitfleet/gitfleet/config"
	"github.com/gitfleet/gitfleet/executor"
	"github.com/gitfleet/gitfleet/source"
	"github.com/gitfleet/gitfleet/tree"
)

// newExecutor builds the executor for the configured transport.
func newExecutor(c *config.Config) (*executor.Executor, error) {
	switch c.Transport.Type {
	case "local":
		return &executor.Executor{T: &executor.Local{Root: c.Transport.Local.Root}}, nil
	}
	return nil, fmt.Errorf("%s: unknown transport %q", c.File, c.Transport.Type)
}

// newDirSource builds the directory source of the configuration.
func newDirSource(c *config.Config) *source.Dir {
	d := c.Source.Directory
	return &source.Dir{Path: d.Path, Debounce: d.Debounce, Limits: tree.Limits{MaxBytes: d.MaxBytes}}
}
