// Package packaging builds gitfleet's release artifacts: the binary for
// each architecture, its man pages, a tar.gz archive, a .deb and an .rpm
// (with github.com/goreleaser/nfpm/v2) and a SHA256SUMS file. make dist runs
// it through tools/dist.
//
// The files the packages install besides the binary live in files/ and are
// embedded: the hardened systemd unit, the commented /etc/gitfleet/gitfleet.yaml
// (a config file the package manager keeps when it was edited), the
// sysusers.d entry of the gitfleet user and the maintainer scripts.
// LintUnit checks the unit's hardening keys; docs/install.md explains them.
package packaging
