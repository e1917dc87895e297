package spec

import (
	"fmt"
	"sort"
	"strings"

	"github.com/gitfleet/gitfleet/internal/strictyaml"
)

// Pos is a place in the desired-state repository.
type Pos struct {
	File string `json:"file"`
	Line int    `json:"line"`
}

func (p Pos) String() string {
	if p.Line <= 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d", p.File, p.Line)
}

// Error is one problem in the desired state, at a place; a problem of the
// desired state as a whole has no place.
type Error struct {
	Pos Pos
	Msg string
}

func (e *Error) Error() string {
	if e.Pos.File == "" {
		return e.Msg
	}
	return e.Pos.String() + ": " + e.Msg
}

// Errors is every problem Load found, sorted by file and line.
type Errors []*Error

func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

func (es Errors) sorted() Errors {
	sort.SliceStable(es, func(i, j int) bool {
		if es[i].Pos.File != es[j].Pos.File {
			return es[i].Pos.File < es[j].Pos.File
		}
		return es[i].Pos.Line < es[j].Pos.Line
	})
	return es
}

// Capped sorts errors and keeps at most MaxErrorsPerFile of each file and
// MaxErrors in all, each cut to MaxMessage; what is left out is counted
// in an "and N more" line after the file's problems, and at the end.
func Capped(es Errors) Errors {
	var l errorList
	for _, e := range es {
		l.addMsg(e.Pos, e.Msg)
	}
	if err := l.err(); err != nil {
		return err.(Errors)
	}
	return nil
}

// errorList collects errors while loading: at most MaxErrorsPerFile of
// each file are kept, the others only counted, and every value quoted is
// cut to MaxQuoted, so that errors stay small whatever the input (a YAML
// alias can repeat a large value many times).
type errorList struct {
	errs Errors
	seen map[string]int // problems of each file, kept or not
}

func (l *errorList) add(p Pos, format string, args ...any) {
	if l.keep(p) {
		l.errs = append(l.errs, &Error{Pos: p, Msg: strictyaml.Clip(fmt.Sprintf(format, clipArgs(args)...), MaxMessage)})
	}
}

// addMsg adds a message made elsewhere, cut to MaxMessage.
func (l *errorList) addMsg(p Pos, msg string) {
	if l.keep(p) {
		l.errs = append(l.errs, &Error{Pos: p, Msg: strictyaml.Clip(msg, MaxMessage)})
	}
}

// keep counts a problem of p's file and says whether it is reported.
func (l *errorList) keep(p Pos) bool {
	if l.seen == nil {
		l.seen = map[string]int{}
	}
	l.seen[p.File]++
	return l.seen[p.File] <= MaxErrorsPerFile
}

// forget drops the problems of the files drop says yes to.
func (l *errorList) forget(drop func(file string) bool) {
	kept := l.errs[:0]
	for _, e := range l.errs {
		if !drop(e.Pos.File) {
			kept = append(kept, e)
		}
	}
	l.errs = kept
	for f := range l.seen {
		if drop(f) {
			delete(l.seen, f)
		}
	}
}

func (l *errorList) count() int {
	n := 0
	for _, c := range l.seen {
		n += c
	}
	return n
}

func (l *errorList) err() error {
	if len(l.errs) == 0 {
		return nil
	}
	es := l.errs.sorted()
	var out Errors
	more, moreFiles := 0, 0
	for i := 0; i < len(es); {
		file := es[i].Pos.File
		j := i
		for j < len(es) && es[j].Pos.File == file {
			j++
		}
		kept := 0
		for _, e := range es[i:j] {
			if len(out) < MaxErrors {
				out = append(out, e)
				kept++
			}
		}
		if rest := l.seen[file] - kept; rest > 0 {
			if len(out) < MaxErrors {
				out = append(out, &Error{Pos: Pos{File: file}, Msg: fmt.Sprintf("and %d more %s in this file (the first %d are reported)", rest, plural(rest, "problem", "problems"), kept)})
			} else {
				more += rest
				moreFiles++
			}
		}
		i = j
	}
	if more > 0 {
		out = append(out, &Error{Msg: fmt.Sprintf("and %d more %s in %d more files (the first %d are reported)", more, plural(more, "problem", "problems"), moreFiles, MaxErrors)})
	}
	return out
}

// clipArgs cuts the strings among args to MaxQuoted.
func clipArgs(args []any) []any {
	out := args
	for i, a := range args {
		var c any
		switch v := a.(type) {
		case string:
			if len(v) > MaxQuoted {
				c = strictyaml.Clip(v, MaxQuoted)
			}
		case []string:
			for _, s := range v {
				if len(s) > MaxQuoted {
					cut := make([]string, len(v))
					for k := range v {
						cut[k] = strictyaml.Clip(v[k], MaxQuoted)
					}
					c = cut
					break
				}
			}
		case error:
			if s := v.Error(); len(s) > MaxMessage {
				c = strictyaml.Clip(s, MaxMessage)
			}
		}
		if c != nil {
			if &out[0] == &args[0] {
				out = append([]any(nil), args...)
			}
			out[i] = c
		}
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
