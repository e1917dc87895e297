// Package secrets reads the encrypted files of the desired-state
// repository: SOPS files (YAML, JSON, dotenv, binary) whose data key is
// encrypted for age recipients, and plain age files (binary or armored).
//
// It promises that plaintext stays in memory: a decrypted value is a
// Value, which formats, marshals and logs as "(secret)" everywhere (fmt,
// JSON, YAML, text, slog), and no error of this package quotes the
// content of a file, only its path, the names of its keys (which SOPS
// keeps in clear) and the public keys it was encrypted for. Plaintext
// leaves the package only through the calls whose names say so
// (Value.Reveal, File.Content, Set.TemplateData), for rendering the
// target file of a server.
//
// Only age keys are used: the SOPS format is read and written here with
// the standard library and filippo.io/age, following the format of SOPS
// 3.13 (tests check it against the sops library both ways). Importing the
// sops library itself would link every cloud key service it supports
// (AWS, GCP, Azure, Vault, HuaweiCloud, PGP, gRPC): more than 780 packages
// for a feature that needs a few.
//
// Without keys, Inspect checks that a file is well-formed and lists the
// names of its values and its recipients, so that templates can be
// checked. With keys (LoadKeys), Keys.Decrypt verifies the file's MAC and
// returns a File. A Digester gives keyed digests (HMAC-SHA256) of values
// and rendered files, so that a change is seen without the plaintext
// being compared or stored anywhere but in memory.
package secrets
