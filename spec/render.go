package spec

import (
	"context"
	"errors"
	"fmt"
	"text/template"
	"text/template/parse"
	"time"
)

// Rendering a managed file's template is bounded in size and time, since a
// few nested range actions can ask for gigabytes: the output goes through
// a writer that stops at MaxRenderedBytes, the functions that build
// strings (printf, print, println, html, js, urlquery) refuse to build one
// larger than that, templates may not call themselves, and every range
// iteration and template call passes a check of the time allowed.

var (
	errRenderSize = errors.New("rendered output too large")
	errRenderTime = errors.New("rendering took too long")
)

// tickFunc is the function called at every range iteration and template
// call of a parsed template; rendering makes it check the time allowed.
const tickFunc = "gitfleetTick"

// renderLimits are the Options that bound rendering.
type renderLimits struct {
	maxBytes int64
	timeout  time.Duration
}

// parseTemplate parses a managed file's template and prepares it for
// bounded rendering.
func parseTemplate(name, text string) (*template.Template, error) {
	t, err := template.New(name).Option("missingkey=error").Funcs(stubFuncs()).Parse(text)
	if err != nil {
		return nil, err
	}
	if err := checkRecursion(t); err != nil {
		return nil, err
	}
	tick, err := template.New("tick").Funcs(stubFuncs()).Parse("{{" + tickFunc + "}}")
	if err != nil {
		return nil, err
	}
	node := tick.Tree.Root.Nodes[0]
	for _, d := range t.Templates() {
		if d.Tree != nil && d.Tree.Root != nil {
			instrument(d.Tree.Root, node)
			d.Tree.Root.Nodes = append([]parse.Node{node}, d.Tree.Root.Nodes...)
		}
	}
	return t, nil
}

// instrument puts tick at the start of every range body below n.
func instrument(n parse.Node, tick parse.Node) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			instrument(c, tick)
		}
	case *parse.IfNode:
		instrument(n.List, tick)
		instrument(n.ElseList, tick)
	case *parse.WithNode:
		instrument(n.List, tick)
		instrument(n.ElseList, tick)
	case *parse.RangeNode:
		instrument(n.List, tick)
		instrument(n.ElseList, tick)
		if n.List != nil {
			n.List.Nodes = append([]parse.Node{tick}, n.List.Nodes...)
		}
	}
}

// checkRecursion refuses templates that call themselves, directly or
// through others: their depth, and so their time and stack, has no
// useful bound.
func checkRecursion(t *template.Template) error {
	calls := map[string][]string{}
	for _, d := range t.Templates() {
		if d.Tree != nil {
			calls[d.Name()] = templateCalls(d.Tree.Root, nil)
		}
	}
	const (
		unseen = iota
		open
		done
	)
	state := map[string]int{}
	var visit func(name string) error
	visit = func(name string) error {
		switch state[name] {
		case open:
			return fmt.Errorf("template %q calls itself: recursive templates are not allowed", name)
		case done:
			return nil
		}
		state[name] = open
		for _, c := range calls[name] {
			if err := visit(c); err != nil {
				return err
			}
		}
		state[name] = done
		return nil
	}
	for name := range calls {
		if err := visit(name); err != nil {
			return err
		}
	}
	return nil
}

func templateCalls(n parse.Node, out []string) []string {
	switch n := n.(type) {
	case *parse.ListNode:
		if n != nil {
			for _, c := range n.Nodes {
				out = templateCalls(c, out)
			}
		}
	case *parse.TemplateNode:
		out = append(out, n.Name)
	case *parse.IfNode:
		out = templateCalls(n.ElseList, templateCalls(n.List, out))
	case *parse.WithNode:
		out = templateCalls(n.ElseList, templateCalls(n.List, out))
	case *parse.RangeNode:
		out = templateCalls(n.ElseList, templateCalls(n.List, out))
	}
	return out
}

// budget is what one rendering may use: the time left and the bytes of
// one file.
type budget struct {
	ctx      context.Context
	maxBytes int64
	ticks    int
}

func newBudget(lim renderLimits) (*budget, context.CancelFunc) {
	if lim.maxBytes <= 0 {
		lim.maxBytes = DefaultMaxRenderedBytes
	}
	if lim.timeout <= 0 {
		lim.timeout = DefaultRenderTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), lim.timeout)
	return &budget{ctx: ctx, maxBytes: lim.maxBytes}, cancel
}

func (b *budget) check() error {
	b.ticks++
	if b.ticks%64 == 0 && b.ctx.Err() != nil {
		return errRenderTime
	}
	return nil
}

func (b *budget) tick() (string, error) { return "", b.check() }

// funcs are the template functions bound to this budget.
func (b *budget) funcs() template.FuncMap {
	m := template.FuncMap{tickFunc: b.tick}
	wrap := func(f func(...any) string) func(...any) (string, error) {
		return func(args ...any) (string, error) {
			if err := b.fits(args); err != nil {
				return "", err
			}
			return f(args...), nil
		}
	}
	m["print"] = wrap(fmt.Sprint)
	m["println"] = wrap(fmt.Sprintln)
	m["html"] = wrap(template.HTMLEscaper)
	m["js"] = wrap(template.JSEscaper)
	m["urlquery"] = wrap(template.URLQueryEscaper)
	m["printf"] = func(format string, args ...any) (string, error) {
		if err := checkFormat(format, b.maxBytes); err != nil {
			return "", err
		}
		if err := b.fits(append([]any{format}, args...)); err != nil {
			return "", err
		}
		return fmt.Sprintf(format, args...), nil
	}
	return m
}

// fits refuses arguments whose strings add up to more than a file may hold.
func (b *budget) fits(args []any) error {
	if err := b.check(); err != nil {
		return err
	}
	var n int64
	for _, a := range args {
		switch v := a.(type) {
		case string:
			n += int64(len(v))
		case []byte:
			n += int64(len(v))
		}
	}
	if n > b.maxBytes {
		return errRenderSize
	}
	return nil
}

// checkFormat refuses printf widths and precisions that would build a
// string larger than max, and those taken from arguments ('*').
func checkFormat(format string, max int64) error {
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
	verb:
		for i++; i < len(format); i++ {
			switch c := format[i]; {
			case c == '*':
				return fmt.Errorf("printf: a width or precision from an argument ('*') is not allowed")
			case c >= '0' && c <= '9':
				n := int64(0)
				for ; i < len(format) && format[i] >= '0' && format[i] <= '9'; i++ {
					if n = n*10 + int64(format[i]-'0'); n > max {
						return errRenderSize
					}
				}
				i--
			case c == '.' || c == '+' || c == '-' || c == '#' || c == ' ' || c == '[' || c == ']':
			default:
				break verb
			}
		}
	}
	return nil
}

// limitWriter keeps at most max bytes and fails the rendering beyond.
type limitWriter struct {
	b   []byte
	max int64
	bud *budget
}

func (w *limitWriter) Write(p []byte) (int, error) {
	if err := w.bud.check(); err != nil {
		return 0, err
	}
	if int64(len(w.b))+int64(len(p)) > w.max {
		return 0, errRenderSize
	}
	w.b = append(w.b, p...)
	return len(p), nil
}

// execute renders t with data within the budget.
func (b *budget) execute(t *template.Template, data any) ([]byte, error) {
	c, err := t.Clone()
	if err != nil {
		return nil, err
	}
	c.Funcs(b.funcs())
	w := &limitWriter{max: b.maxBytes, bud: b}
	if err := c.Execute(w, data); err != nil {
		return nil, err
	}
	return w.b, nil
}

// stubFuncs declares the budget's functions at parse time; rendering
// replaces them.
func stubFuncs() template.FuncMap {
	return (&budget{ctx: context.Background()}).funcs()
}

// renderProblem says why a rendering failed, naming the limit it hit.
func renderProblem(err error, lim renderLimits) string {
	switch {
	case errors.Is(err, errRenderSize):
		return fmt.Sprintf("renders more than limits.maxRenderedBytes (%d bytes)", lim.maxBytes)
	case errors.Is(err, errRenderTime):
		return fmt.Sprintf("rendering takes longer than limits.renderTimeout (%s)", lim.timeout)
	}
	return err.Error()
}
