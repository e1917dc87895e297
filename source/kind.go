package source

import (
	"github.com/gitfleet/gitfleet/internal/retry"
)

// Classify names the reason of a failed Git operation, as the metrics do
// (ReasonAuth, ReasonNetwork, ...).
func Classify(err error) string { return classify(err) }

// RetryKind is what a retry of a failed Git operation would do. Refused
// credentials, a bad signature, a rewritten history, a refused moved tag
// and content that cannot be used do not heal by themselves: they are
// Stalling, tried again when an input changes. A remote that is down, a
// timeout or anything else is Transient.
func RetryKind(err error) retry.Kind {
	if k := retry.KindOf(err); k != retry.KindTransient {
		return k
	}
	switch classify(err) {
	case ReasonAuth, ReasonVerify, ReasonNonFastForward, ReasonTagMoved, ReasonTree, ReasonTooLarge:
		return retry.KindStalling
	}
	return retry.KindTransient
}

// IsContentProblem reports whether a failed fetch of an artifact is a
// problem of what the desired state names (a tag that does not exist, a
// tree that cannot be used) rather than of reaching it.
func IsContentProblem(err error) bool {
	switch classify(err) {
	case ReasonNotFound, ReasonTree, ReasonTooLarge:
		return true
	}
	return false
}

// IsRefusal reports whether a failed poll refused what the source holds
// (a bad signature, a rewritten history or a moved tag refused, a tree
// that cannot be used), rather than failing to read it: the newest
// desired state is then rejected, not unknown.
func IsRefusal(err error) bool {
	switch classify(err) {
	case ReasonVerify, ReasonNonFastForward, ReasonTagMoved, ReasonTree, ReasonTooLarge:
		return true
	}
	return false
}
