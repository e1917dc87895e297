// Package artifact fetches the versions of Apps from where CI puts them:
// archives over HTTPS (artifact.http) and OCI registries (artifact.oci).
//
// A Source answers two questions, separately:
//   - Resolve: which content is this version? The digest comes from the
//     Release, a (signed) SHA256SUMS file next to an archive, or the
//     registry's tag. The controller calls it when a release is first
//     staged, pins the digest, and calls it again later to notice a tag
//     that moved; it never follows a moved tag silently.
//   - Fetch: bring the content of that digest into the blob cache and say
//     what it holds (an archive.Manifest). Nothing of an archive is
//     extracted before its digest is checked; every download has a deadline
//     and a size cap and streams to disk; the same digest is downloaded once
//     (the cache) and fetched once at a time (callers asking at the same
//     moment share one download).
//
// Errors read as a path ("web v1.4.3: https://ci.example/web.tar.gz: 404
// Not Found") and say what a retry would do: ErrNotFound (the version is
// not there yet: retry later), ErrIntegrity (content or signature wrong:
// do not retry this digest), archive.ErrUnsafe and archive.ErrLimit (the
// archive is refused: do not retry), anything else transient (network,
// timeout, 5xx: retry with backoff). See Retryable.
//
// Validate checks templates and references without any network access and
// lists what it did not fetch.
package artifact
