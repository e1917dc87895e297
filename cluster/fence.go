package cluster

import (
	"strconv"
	"strings"
)

// Exit statuses of gitfleet_fence besides the command's own.
const (
	// FenceRefused: the token is lower than one the server has seen.
	FenceRefused = 77
	// FenceBusy: the lock stayed held for GITFLEET_FENCE_WAIT seconds.
	FenceBusy = 75
	// FenceBroken: bad arguments, or a fence file that is not a file.
	FenceBroken = 65
)

// FenceScript defines the POSIX sh function that fences a write on a
// server:
//
//	gitfleet_fence DIR ENV TOKEN COMMAND [ARG...]
//
// It takes the lock of ENV in DIR, compares TOKEN with the highest token
// the server has seen for ENV (DIR/ENV.token), refuses a lower one (exit
// 77, "gitfleet fence: ... refused" on stderr), stores a higher one, and
// runs COMMAND while still holding the lock: the check and the write are
// one step, so once the server has seen a new owner's token no write of
// an older owner can follow. The lock is flock(1) (util-linux, BusyBox)
// where it exists; elsewhere (or with GITFLEET_FENCE_LOCK=mkdir) it is a
// directory made by mkdir, holding the shell's pid, and broken when that
// process is gone. COMMAND does not inherit the lock's descriptor, so a
// daemon it starts cannot hold the lock. Symbolic links in place of DIR or
// its files are refused. Reset a server's fence after an etcd rebuild by
// deleting DIR/ENV.token (see docs/ha.md).
const FenceScript = `gitfleet_fence() {
	_gf_dir=$1 _gf_env=$2 _gf_tok=$3
	shift 3 || return 65
	case $_gf_tok in
	'' | *[!0-9]* | 0*) echo "gitfleet fence: token '$_gf_tok' is not a positive number" >&2; return 65 ;;
	esac
	case $_gf_env in
	'' | */* | . | ..) echo "gitfleet fence: bad environment name" >&2; return 65 ;;
	esac
	if [ ${#_gf_tok} -gt 18 ] || [ $# -eq 0 ]; then
		echo "gitfleet fence: token too long or no command" >&2; return 65
	fi
	if [ -L "$_gf_dir" ]; then echo "gitfleet fence: $_gf_dir is a symlink" >&2; return 65; fi
	mkdir -p "$_gf_dir" || return 65
	if [ "${GITFLEET_FENCE_LOCK:-}" != mkdir ] && command -v flock >/dev/null 2>&1; then
		if [ -L "$_gf_dir/$_gf_env.lock" ]; then echo "gitfleet fence: $_gf_dir/$_gf_env.lock is a symlink" >&2; return 65; fi
		(
			exec 9>>"$_gf_dir/$_gf_env.lock" || exit 65
			flock -w "${GITFLEET_FENCE_WAIT:-60}" 9 || { echo "gitfleet fence: $_gf_dir/$_gf_env.lock is busy" >&2; exit 75; }
			_gitfleet_fence_check || exit $?
			"$@" 9>&-
			exit $? # not the last command: dash would exec it and drop the lock
		)
		return $?
	fi
	_gitfleet_fence_mkdir || return $?
	( _gitfleet_fence_check && "$@" )
	_gf_rc=$?
	rm -rf "$_gf_dir/$_gf_env.lockdir"
	return $_gf_rc
}

_gitfleet_fence_mkdir() {
	_gf_lock=$_gf_dir/$_gf_env.lockdir _gf_waited=0 _gf_nopid=0
	until mkdir "$_gf_lock" 2>/dev/null; do
		if [ -L "$_gf_lock" ]; then echo "gitfleet fence: $_gf_lock is a symlink" >&2; return 65; fi
		_gf_pid=$(cat "$_gf_lock/pid" 2>/dev/null)
		if [ -z "$_gf_pid" ]; then _gf_nopid=$((_gf_nopid + 1)); else _gf_nopid=0; fi
		if { [ -n "$_gf_pid" ] && ! kill -0 "$_gf_pid" 2>/dev/null; } || [ $_gf_nopid -gt 5 ]; then
			rm -rf "$_gf_lock" # its holder is gone
			continue
		fi
		if [ $_gf_waited -ge $((${GITFLEET_FENCE_WAIT:-60} * 5)) ]; then
			echo "gitfleet fence: $_gf_lock is busy" >&2; return 75
		fi
		sleep 0.2 2>/dev/null || sleep 1
		_gf_waited=$((_gf_waited + 1))
	done
	echo $$ >"$_gf_lock/pid"
}

_gitfleet_fence_check() {
	_gf_file=$_gf_dir/$_gf_env.token _gf_cur=0
	if [ -L "$_gf_file" ] || { [ -e "$_gf_file" ] && [ ! -f "$_gf_file" ]; }; then
		echo "gitfleet fence: $_gf_file is not a regular file" >&2; return 65
	fi
	if [ -e "$_gf_file" ]; then _gf_cur=$(cat "$_gf_file") || return 65; fi
	case $_gf_cur in
	'' | *[!0-9]*) echo "gitfleet fence: $_gf_file is corrupt" >&2; return 65 ;;
	esac
	if [ "$_gf_tok" -lt "$_gf_cur" ]; then
		echo "gitfleet fence: environment $_gf_env: token $_gf_tok is older than $_gf_cur: refused" >&2
		return 77
	fi
	if [ "$_gf_tok" -gt "$_gf_cur" ]; then
		rm -f "$_gf_file.new" &&
			(set -C && printf '%s\n' "$_gf_tok" >"$_gf_file.new") &&
			mv -f "$_gf_file.new" "$_gf_file" ||
			{ echo "gitfleet fence: cannot write $_gf_file" >&2; return 65; }
	fi
}
`

// FenceCall is the start of a call of gitfleet_fence for a write in dir
// of environment env with token; the command follows, e.g.
// FenceCall(d, e, t) + " sh -c 'ln -sfn ... && mv -T ...'".
func FenceCall(dir, env string, token int64) string {
	return "gitfleet_fence " + shellQuote(dir) + " " + shellQuote(env) + " " + strconv.FormatInt(token, 10)
}

// shellQuote quotes s for sh as one word.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
