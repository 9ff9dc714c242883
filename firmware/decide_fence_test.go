package firmware_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// What to record now and next has one home: sync/plan (design.md §3,
// "Next(schedule, now)" lives in sync/...). decisionViolations finds, in
// one file of a package other than sync/plan, code that answers that
// question itself:
//
//   - a function that takes the schedule (a slice of schedule.Occurrence
//     or plan.Entry, or a plan.Plan) together with an instant (time.Time):
//     the shape of Active/Next/Primary/due;
//   - a comparison with an event type or status constant of sync/schedule
//     (schedule.TypeRecord, schedule.StatusActive, ...) in an expression
//     or a switch case: the "is it recordable" predicate (StatusDeleted
//     excepted: a deleted event is not in the schedule at all, and the
//     expander drops it before anything is planned);
//   - an ordering comparison (<, <=, >, >=) of a Priority field: the
//     kaltura.md §8 tie-break, whose one home is plan.Compare;
//   - a method on schedule.Occurrence that returns bool (the deleted
//     Occurrence.Recordable, which ignored blackouts).
//
// The parser (sync/icalparse) checks that the values it reads are valid
// event types and statuses; it decides nothing and is exempt from the
// second rule only.
func decisionViolations(pkg string, fset *token.FileSet, f *ast.File) []string {
	if pkg == mod+"/sync/plan" {
		return nil
	}
	names := map[string]string{} // local import name → path
	for _, im := range f.Imports {
		path, _ := strconv.Unquote(im.Path.Value)
		name := filepath.Base(path)
		if im.Name != nil {
			name = im.Name.Name
		}
		names[name] = path
	}
	is := func(e ast.Expr, path, sel string) bool {
		s, ok := e.(*ast.SelectorExpr)
		if !ok {
			return false
		}
		x, ok := s.X.(*ast.Ident)
		return ok && names[x.Name] == path && (sel == "" || s.Sel.Name == sel)
	}
	schedulePkg, planPkg := mod+"/sync/schedule", mod+"/sync/plan"
	isSchedule := func(t ast.Expr) bool {
		if a, ok := t.(*ast.ArrayType); ok {
			return is(a.Elt, schedulePkg, "Occurrence") || is(a.Elt, planPkg, "Entry")
		}
		if st, ok := t.(*ast.StarExpr); ok {
			t = st.X
		}
		return is(t, planPkg, "Plan")
	}
	// A constant of sync/schedule naming an event type or status, possibly
	// converted (int(schedule.StatusActive)).
	var isKind func(e ast.Expr) bool
	isKind = func(e ast.Expr) bool {
		switch v := e.(type) {
		case *ast.ParenExpr:
			return isKind(v.X)
		case *ast.CallExpr:
			return len(v.Args) == 1 && isKind(v.Args[0])
		case *ast.SelectorExpr:
			return is(v, schedulePkg, "") && v.Sel.Name != "StatusDeleted" &&
				(strings.HasPrefix(v.Sel.Name, "Type") || strings.HasPrefix(v.Sel.Name, "Status"))
		}
		return false
	}
	isPriority := func(e ast.Expr) bool {
		s, ok := e.(*ast.SelectorExpr)
		return ok && s.Sel.Name == "Priority"
	}
	var out []string
	report := func(n ast.Node, what string) {
		out = append(out, fset.Position(n.Pos()).String()+": "+what)
	}
	kindsExempt := pkg == mod+"/sync/icalparse"
	ast.Inspect(f, func(n ast.Node) bool {
		switch v := n.(type) {
		case *ast.FuncDecl:
			var sched, instant bool
			for _, fl := range v.Type.Params.List {
				sched = sched || isSchedule(fl.Type)
				instant = instant || is(fl.Type, "time", "Time")
			}
			if sched && instant {
				report(v, "func "+v.Name.Name+" takes the schedule and an instant: ask sync/plan (Active, Next, Primary, Within)")
			}
			if v.Recv != nil && len(v.Recv.List) == 1 && pkg == schedulePkg {
				if id, ok := v.Recv.List[0].Type.(*ast.Ident); ok && id.Name == "Occurrence" && v.Type.Results != nil {
					for _, r := range v.Type.Results.List {
						if id, ok := r.Type.(*ast.Ident); ok && id.Name == "bool" {
							report(v, "Occurrence."+v.Name.Name+" is a predicate over an occurrence: the plan decides what is recorded")
						}
					}
				}
			}
		case *ast.BinaryExpr:
			switch v.Op {
			case token.EQL, token.NEQ:
				if !kindsExempt && (isKind(v.X) || isKind(v.Y)) {
					report(v, "compares an event type or status: whether an event is recorded is plan.Entry.Record")
				}
			case token.LSS, token.LEQ, token.GTR, token.GEQ:
				if isPriority(v.X) || isPriority(v.Y) {
					report(v, "orders by Priority: the tie-break lives in plan.Compare only")
				}
			}
		case *ast.CaseClause:
			for _, e := range v.List {
				if !kindsExempt && isKind(e) {
					report(e, "switches on an event type or status: whether an event is recorded is plan.Entry.Record")
				}
			}
		}
		return true
	})
	return out
}

// TestOnlyThePlanDecidesWhatToRecord applies decisionViolations to every
// non-test file of the module (tools excepted: nothing imports them), and
// checks that the controller takes its answers from sync/plan.
func TestOnlyThePlanDecidesWhatToRecord(t *testing.T) {
	fset := token.NewFileSet()
	controllerUsesPlan := false
	for _, p := range listPackages(t) {
		if under(p.ImportPath, "tools") {
			continue
		}
		if p.ImportPath == mod+"/firmware/controller" {
			for _, imp := range p.Imports {
				controllerUsesPlan = controllerUsesPlan || imp == mod+"/sync/plan"
			}
		}
		for _, name := range p.GoFiles {
			f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range decisionViolations(p.ImportPath, fset, f) {
				t.Error(v)
			}
		}
	}
	if !controllerUsesPlan {
		t.Error("firmware/controller does not import sync/plan: the plan answers what to record")
	}
}

// TestDecisionViolationsCatchCopies: the check finds each kind of copy.
func TestDecisionViolationsCatchCopies(t *testing.T) {
	const src = `package x

import (
	"time"

	"github.com/capturebox/capturebox/sync/plan"
	sch "github.com/capturebox/capturebox/sync/schedule"
)

func due(occs []sch.Occurrence, now time.Time) []sch.Occurrence { return nil }

func next(p plan.Plan, at time.Time) {}

func recordable(o sch.Occurrence) bool {
	return o.Type == sch.TypeRecord && int(o.Status) == int(sch.StatusActive)
}

func less(a, b sch.Occurrence) bool { return a.Priority < b.Priority }

func name(o sch.Occurrence) string {
	switch o.Status {
	case sch.StatusCancelled:
		return "cancelled"
	}
	return ""
}

func fine(p plan.Plan, key string) bool { return p.Within(key, time.Time{}, 0, 0) }
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "x.go", src, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	got := decisionViolations(mod+"/firmware/x", fset, f)
	want := []string{"func due", "func next", "compares an event type", "compares an event type", "orders by Priority", "switches on an event type"}
	if len(got) != len(want) {
		t.Fatalf("got %d violations, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i, w := range want {
		if !strings.Contains(got[i], w) {
			t.Errorf("violation %d = %q, want %q", i, got[i], w)
		}
	}
	if v := decisionViolations(mod+"/sync/plan", fset, f); v != nil {
		t.Errorf("sync/plan itself is reported: %v", v)
	}
	const method = "package schedule\n\ntype Occurrence struct{}\n\nfunc (o Occurrence) Recordable() bool { return true }\n"
	f, err = parser.ParseFile(fset, "m.go", method, 0)
	if err != nil {
		t.Fatal(err)
	}
	if v := decisionViolations(mod+"/sync/schedule", fset, f); len(v) != 1 {
		t.Errorf("Occurrence.Recordable not reported: %v", v)
	}
}
