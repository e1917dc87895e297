// Package archive extracts tar, tar.gz, tar.zst and zip archives, and the
// tar layers of OCI images, safely and as a stream: every regular file goes
// into the blob cache by its digest, and what the archive held is described
// by a Manifest (path, kind, mode, size, sha256, link target) instead of
// bytes in memory.
//
// What it promises:
//   - An archive is checked while it is read, and the first problem refuses
//     all of it with the entry's name (escaped, clipped): an absolute path,
//     a `..` component, a name with a control character (as the tree
//     package refuses them), a symbolic link that is absolute or leads out
//     of the root (resolved through the other links of the archive, as the
//     kernel would), a device node, a FIFO or a socket, a setuid or setgid
//     file, the same path twice (zip duplicate names included), a hard link
//     to anything but an earlier regular file of the archive, and more
//     entries, bytes, or bytes in one file than Limits allow (a tar or zip
//     bomb is cut off at the limit, before it fills the disk).
//   - Hard links are resolved inside the archive: the link becomes a file
//     with the content (the same blob) of its target.
//   - Memory does not grow with the size of the archive or its files; it
//     grows by a few hundred bytes per entry (bounded by MaxEntries) and by
//     the decompressor's window (zstd windows above 64 MiB are refused).
//   - Nothing is written outside the cache: no file of an archive is
//     created on disk under its own name, so no link in it can redirect a
//     write.
//   - Manifest.Digest is the tree package's content digest of the same
//     files, so a release has the same ID whether its files came from a
//     directory, a Git tag or an archive.
//
// # Towards a tree that is read lazily
//
// ToTree reads every file of a manifest back into a *tree.Tree, for the
// daemon as it is today (it holds artifacts in memory). Once issue 12 moves
// contents out of memory, a tree needs only what a Manifest already holds
// per entry: path, kind, mode, size, the sha256 of the content (or of the
// link target) and the target. Its digest is computed from those alone
// (Manifest.Digest does exactly that), staging streams each file from
// blobcache.Open by its sha256, and the content check on servers compares
// against the same sums. So the lazy tree can be a Manifest plus a cache,
// with tree.Entry.Data replaced by an opener, and ToTree goes away.
package archive
