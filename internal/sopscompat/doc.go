// Package sopscompat holds gitfleet's tests against the sops library
// (github.com/getsops/sops/v3), the reference implementation of the SOPS
// format that package secrets reads and writes without it.
//
// It is a module of its own: the sops library imports every key service
// it supports, each with its cloud SDK, about 200 MB of module zips to
// fetch and compile. Nested modules are outside the ./... of the
// repository's module, so `make test` and CI never build it.
//
// Both directions are covered:
//
//   - sops encrypts, gitfleet decrypts: the generator (cmd/sopsfixtures,
//     `make sops-fixtures`) encrypts the plaintexts of
//     secrets/testdata/sops/plain with the sops library, in every layout
//     gitfleet reads (formats, recipients, key groups with Shamir, rules,
//     mac_only_encrypted, files rotated and updated by sops), and writes
//     them with their age keys and a manifest (fixtures.json) into
//     secrets/testdata/sops. The tests of package secrets read those
//     committed files, so they prove gitfleet decrypts what sops wrote
//     without importing sops.
//   - gitfleet encrypts, sops decrypts: the tests of this package
//     (`make test-sops`) decrypt with the sops library what secrets.Encrypt
//     and Keys.Rotate write, and check that the committed fixtures are
//     what sops decrypts and what the generator's list describes.
package sopscompat
