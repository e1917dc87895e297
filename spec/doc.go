// Package spec defines gitfleet's desired-state format: Environments (where),
// Apps (what and how) and Releases (which version of an App runs in an
// Environment, and how it rolls out).
//
// Documents are multi-document YAML files anywhere under a root. Loading is
// strict and pure: it takes file contents, never touches the disk, and reports
// every problem it finds at once, each as file:line: message. A Desired that
// Load returns is complete and valid, with every default filled in.
package spec
