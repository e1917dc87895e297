// Package blobcache is a content-addressed store of blobs by SHA-256 in a
// directory of the daemon (stateDir/cache): the one cache that downloaded
// artifacts, the files extracted from them and, later, the directory and
// Git sources share.
//
// What it promises:
//   - A blob is stored under its digest only once its bytes have been
//     hashed while written (Put streams; memory does not grow with the
//     blob's size) and, unless asked otherwise, synced to disk. A Put that
//     names the digest it wants stores nothing else.
//   - Puts of the same content, concurrent or not, are safe: each writes a
//     temporary file of its own in the cache's tmp directory (same file
//     system), and the rename that publishes it is atomic.
//   - Reading a blob to its end checks its digest again, so a file damaged
//     on disk (a crash before a sync, bit rot) is reported and removed, never
//     served.
//   - The total size is bounded: after a Put, the least recently used
//     blobs are removed until the cache fits, except pinned and held ones.
//     Pins are named sets of digests kept on disk (the contents of the
//     releases in force); holds are in memory and protect the work in
//     progress of this process (a download and its extraction). When only
//     pinned or held blobs are left, the cache stays above its bound and
//     says so (Stats).
//   - It survives restarts: the index is rebuilt from the directory (blob
//     sizes, recency from modification times), temporary files left by a
//     crash are removed, and pins are read back.
//
// Layout of the directory:
//
//	blobs/sha256/ab/abcdef…   one file per blob, mode 0644
//	tmp/                      temporary files of Puts in progress
//	pins/<hex>.json           one pin set: {"name": …, "digests": […]}
//	refs/<hex>                a named pointer to a blob (a manifest by key)
//
// Memory: about 200 bytes per blob for the index, none per byte stored.
package blobcache
