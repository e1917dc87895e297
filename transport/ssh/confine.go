package ssh

import (
	"errors"
	"strings"

	"github.com/gitfleet/gitfleet/transport"
)

// exitRefused is the exit status of a server script that refused a write.
const exitRefused = 4

// refusedMark starts the last line a script prints when it refuses.
const refusedMark = "gitfleet: refused: "

// confineSh is the shell part of the rule, put in front of every server
// script that writes. gf_root DIR [make] changes into the root DIR (made,
// with its parents, when missing and "make" is given; status 1 when it is
// missing otherwise) and refuses when DIR is a symbolic link. gf_cd REL
// [make] then goes down into the directory REL, one component at a time
// with cd -P, so that $PWD is where each step physically landed, and
// refuses as soon as that is not inside the root; a component that is
// missing is made with "make", else the status is 1. gf_home returns to the
// root, checking it again. A refusal prints refusedMark and the link, and
// exits with exitRefused.
const confineSh = `unset CDPATH
gf_refuse() { printf '\ngitfleet: refused: %s' "$1" >&2; exit 4; }
gf_root() {
  gf_top=$1
  if [ "$1" = / ]; then cd / || exit 1; gf_R=/; gf_lex=; return 0; fi
  if [ -L "$1" ]; then gf_refuse "$1"; fi
  if [ ! -d "$1" ]; then
    [ "$2" = make ] || return 1
    mkdir -p -- "$1" || exit 1
  fi
  gf_p=${1%/*}
  cd -P -- "${gf_p:-/}" || exit 1
  gf_R=${PWD%/}/${1##*/}
  cd -P -- "$gf_R" || exit 1
  if [ "$PWD" != "$gf_R" ]; then gf_refuse "$1"; fi
  gf_lex=$1
}
gf_home() {
  cd -P -- "$gf_R" || exit 1
  if [ "$PWD" != "$gf_R" ]; then gf_refuse "$gf_top"; fi
  gf_lex=${gf_top%/}
}
gf_cd() {
  set -f
  gf_ifs=$IFS; IFS=/
  for gf_c in $1; do
    IFS=$gf_ifs
    case $gf_c in ''|.) continue;; esac
    gf_lex=$gf_lex/$gf_c
    if [ ! -e "$gf_c" ] && [ ! -L "$gf_c" ]; then
      if [ "$2" != make ]; then set +f; return 1; fi
      mkdir -- "$gf_c" || exit 1
    fi
    if ! cd -P -- "$gf_c" 2>/dev/null; then
      if [ -L "$gf_c" ]; then gf_refuse "$gf_lex"; fi
      echo "cannot enter $gf_lex" >&2; exit 1
    fi
    case $PWD/ in "${gf_R%/}"/*) ;; *) gf_refuse "$gf_lex";; esac
  done
  IFS=$gf_ifs
  set +f
}
`

// refusal turns the exit of a server script that refused a write into a
// *RootError for p (the link itself when p is ""), whose root is root.
func refusal(err error, p, root string) error {
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != exitRefused {
		return err
	}
	i := strings.LastIndex(ee.Stderr, refusedMark)
	if i < 0 {
		return err
	}
	link := ee.Stderr[i+len(refusedMark):]
	if p == "" {
		p = link
	}
	if link == root {
		return transport.RootIsLink(p, root)
	}
	return transport.LinkLeadsOut(p, link, root)
}
