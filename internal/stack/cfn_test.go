package stack_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// This file reads template.yaml as CloudFormation does: YAML with the
// short-form intrinsic tags (!Ref, !Sub, !If...) turned into their long form
// ({"Ref": ...}, {"Fn::Sub": ...}), and a small evaluator that resolves the
// intrinsics for given parameter values, so tests check what a deployment
// would get rather than the shape of the YAML.

// repoRoot is the folder of go.mod, two levels up from this package.
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("no go.mod at %s: %v", root, err)
	}
	return root
}

// loadTemplate parses template.yaml into plain maps, lists and scalars.
func loadTemplate(t testing.TB) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := parseCFN(raw)
	if err != nil {
		t.Fatalf("template.yaml: %v", err)
	}
	return tpl
}

func parseCFN(raw []byte) (map[string]any, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	v, err := cfnValue(&doc)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("the document is not a mapping")
	}
	return m, nil
}

// shortForms are the intrinsic function tags CloudFormation accepts, with
// the long-form key each stands for.
var shortForms = map[string]string{
	"!Ref": "Ref", "!Condition": "Condition",
	"!Base64": "Fn::Base64", "!Cidr": "Fn::Cidr", "!FindInMap": "Fn::FindInMap",
	"!GetAtt": "Fn::GetAtt", "!GetAZs": "Fn::GetAZs", "!ImportValue": "Fn::ImportValue",
	"!Join": "Fn::Join", "!Select": "Fn::Select", "!Split": "Fn::Split", "!Sub": "Fn::Sub",
	"!Transform": "Fn::Transform", "!And": "Fn::And", "!Equals": "Fn::Equals", "!If": "Fn::If",
	"!Not": "Fn::Not", "!Or": "Fn::Or", "!ToJsonString": "Fn::ToJsonString", "!Length": "Fn::Length",
}

// cfnValue converts a YAML node, expanding short-form tags.
func cfnValue(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return nil, errors.New("empty document")
		}
		return cfnValue(n.Content[0])
	case yaml.AliasNode:
		return nil, fmt.Errorf("line %d: YAML aliases are not CloudFormation", n.Line)
	}
	if n.Anchor != "" {
		return nil, fmt.Errorf("line %d: YAML anchors are not CloudFormation", n.Line)
	}
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		fn, ok := shortForms[n.Tag]
		if !ok {
			return nil, fmt.Errorf("line %d: unknown tag %s", n.Line, n.Tag)
		}
		plain := *n
		plain.Tag = ""
		if n.Kind == yaml.ScalarNode {
			plain.Tag = "!!str" // !Ref 0 names "0", it is not a number
		}
		v, err := cfnValue(&plain)
		if err != nil {
			return nil, err
		}
		if s, ok := v.(string); ok && fn == "Fn::GetAtt" {
			res, attr, ok := strings.Cut(s, ".")
			if !ok {
				return nil, fmt.Errorf("line %d: !GetAtt %q has no attribute", n.Line, s)
			}
			v = []any{res, attr}
		}
		return map[string]any{fn: v}, nil
	}
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i < len(n.Content); i += 2 {
			k, kv := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: a key that is not a scalar", k.Line)
			}
			if _, dup := m[k.Value]; dup {
				return nil, fmt.Errorf("line %d: duplicate key %q", k.Line, k.Value)
			}
			v, err := cfnValue(kv)
			if err != nil {
				return nil, err
			}
			m[k.Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		l := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := cfnValue(c)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
		}
		return l, nil
	default:
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		return v, nil
	}
}

func TestParseShortForms(t *testing.T) {
	got, err := parseCFN([]byte(`
a: !Ref Bucket
b: !GetAtt Queue.Arn
c: !Sub 'x-${!dt}'
d: !If [Cond, !Join ['/', [a, !Select [0, !Split [',', 'p,q']]]], !Ref AWS::NoValue]
e: !Not [!Equals [!Ref N, '0']]
f: !Ref 0
`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"a": map[string]any{"Ref": "Bucket"},
		"b": map[string]any{"Fn::GetAtt": []any{"Queue", "Arn"}},
		"c": map[string]any{"Fn::Sub": "x-${!dt}"},
		"d": map[string]any{"Fn::If": []any{"Cond",
			map[string]any{"Fn::Join": []any{"/", []any{"a", map[string]any{"Fn::Select": []any{0,
				map[string]any{"Fn::Split": []any{",", "p,q"}}}}}}},
			map[string]any{"Ref": "AWS::NoValue"}}},
		"e": map[string]any{"Fn::Not": []any{map[string]any{"Fn::Equals": []any{map[string]any{"Ref": "N"}, "0"}}}},
		"f": map[string]any{"Ref": "0"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("parsed\n%v\nwant\n%v", got, want)
	}
	for _, bad := range []string{"a: !Bogus x", "a: &x 1\nb: *x", "a: 1\na: 2", "a: !GetAtt NoAttr"} {
		if _, err := parseCFN([]byte(bad)); err == nil {
			t.Errorf("%q parsed; want an error", bad)
		}
	}
}

// noValue stands for AWS::NoValue while resolving: the property or list
// element that holds it disappears.
type noValueType struct{}

var noValue = noValueType{}

// stack is the template resolved for one set of parameter values.
type stack struct {
	params     map[string]string
	conditions map[string]bool
	// resources holds the resources whose condition holds, properties
	// resolved; Ref of a resource is "{{Name}}", GetAtt "{{Name.Attr}}".
	resources map[string]map[string]any
	outputs   map[string]any
}

// pseudo are the pseudo parameters, as in a test account.
var pseudo = map[string]string{
	"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012",
	"AWS::StackName": "audit", "AWS::URLSuffix": "amazonaws.com",
	"AWS::StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/audit/1b2c3d4e-5f60-11ef-8a9b-0a1b2c3d4e5f",
}

// resolve evaluates the template with its parameters' defaults overridden
// by params.
func resolve(t testing.TB, tpl map[string]any, params map[string]string) *stack {
	t.Helper()
	s := &stack{params: map[string]string{}, conditions: map[string]bool{}, resources: map[string]map[string]any{}}
	for name, def := range asMap(tpl["Parameters"]) {
		if d, ok := asMap(def)["Default"]; ok {
			s.params[name] = scalarString(d)
		}
	}
	for k, v := range params {
		if _, ok := asMap(tpl["Parameters"])[k]; !ok {
			t.Fatalf("template.yaml has no parameter %s", k)
		}
		s.params[k] = v
	}
	r := &evaluator{tpl: tpl, s: s}
	for name := range asMap(tpl["Conditions"]) {
		b, err := r.condition(name)
		if err != nil {
			t.Fatalf("condition %s: %v", name, err)
		}
		s.conditions[name] = b
	}
	for name, raw := range asMap(tpl["Resources"]) {
		res := asMap(raw)
		if c, ok := res["Condition"].(string); ok && !s.conditions[c] {
			continue
		}
		v, err := r.eval(res)
		if err != nil {
			t.Fatalf("resource %s: %v", name, err)
		}
		s.resources[name] = v.(map[string]any)
	}
	s.outputs = map[string]any{}
	for name, raw := range asMap(tpl["Outputs"]) {
		o := asMap(raw)
		if c, ok := o["Condition"].(string); ok && !s.conditions[c] {
			continue
		}
		delete(o, "Condition")
		v, err := r.eval(o)
		if err != nil {
			t.Fatalf("output %s: %v", name, err)
		}
		s.outputs[name] = v
	}
	return s
}

// resource returns a resolved resource, failing if it is absent.
func (s *stack) resource(t testing.TB, name string) map[string]any {
	t.Helper()
	r, ok := s.resources[name]
	if !ok {
		t.Fatalf("resource %s is not in the stack (parameters %v)", name, s.params)
	}
	return r
}

// props returns a resolved resource's Properties.
func (s *stack) props(t testing.TB, name string) map[string]any {
	t.Helper()
	return asMap(s.resource(t, name)["Properties"])
}

type evaluator struct {
	tpl map[string]any
	s   *stack
}

func (r *evaluator) condition(name string) (bool, error) {
	if b, ok := r.s.conditions[name]; ok {
		return b, nil
	}
	c, ok := asMap(r.tpl["Conditions"])[name]
	if !ok {
		return false, fmt.Errorf("no condition %s", name)
	}
	v, err := r.eval(c)
	if err != nil {
		return false, err
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("condition %s is %v, not a boolean", name, v)
	}
	r.s.conditions[name] = b
	return b, nil
}

// ref resolves a Ref (or a ${Name} in Fn::Sub).
func (r *evaluator) ref(name string) (any, error) {
	if name == "AWS::NoValue" {
		return noValue, nil
	}
	if v, ok := pseudo[name]; ok {
		return v, nil
	}
	if v, ok := r.s.params[name]; ok {
		return v, nil
	}
	if _, ok := asMap(r.tpl["Resources"])[name]; ok {
		return "{{" + name + "}}", nil
	}
	return nil, fmt.Errorf("Ref to unknown %q", name)
}

func (r *evaluator) eval(v any) (any, error) {
	switch v := v.(type) {
	case []any:
		out := make([]any, 0, len(v))
		for _, e := range v {
			ev, err := r.eval(e)
			if err != nil {
				return nil, err
			}
			if ev != noValue {
				out = append(out, ev)
			}
		}
		return out, nil
	case map[string]any:
		if len(v) == 1 {
			for k, arg := range v {
				if k == "Ref" || k == "Condition" || strings.HasPrefix(k, "Fn::") {
					return r.intrinsic(k, arg)
				}
			}
		}
		out := make(map[string]any, len(v))
		for k, e := range v {
			ev, err := r.eval(e)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			if ev != noValue {
				out[k] = ev
			}
		}
		return out, nil
	default:
		return v, nil
	}
}

var subVar = regexp.MustCompile(`\$\{([^}]*)\}`)

func (r *evaluator) intrinsic(fn string, arg any) (any, error) {
	args, _ := arg.([]any)
	switch fn {
	case "Ref":
		return r.ref(scalarString(arg))
	case "Condition":
		return r.condition(scalarString(arg))
	case "Fn::GetAtt":
		if len(args) != 2 {
			return nil, fmt.Errorf("Fn::GetAtt %v", arg)
		}
		if _, ok := asMap(r.tpl["Resources"])[scalarString(args[0])]; !ok {
			return nil, fmt.Errorf("Fn::GetAtt of unknown resource %v", args[0])
		}
		return "{{" + scalarString(args[0]) + "." + scalarString(args[1]) + "}}", nil
	case "Fn::Sub":
		text, vars := "", map[string]any{}
		switch a := arg.(type) {
		case string:
			text = a
		case []any:
			if len(a) != 2 {
				return nil, fmt.Errorf("Fn::Sub %v", arg)
			}
			text = scalarString(a[0])
			vv, err := r.eval(a[1])
			if err != nil {
				return nil, err
			}
			vars = asMap(vv)
		}
		var ferr error
		out := subVar.ReplaceAllStringFunc(text, func(m string) string {
			name := m[2 : len(m)-1]
			if strings.HasPrefix(name, "!") {
				return "${" + name[1:] + "}" // ${!x} is a literal ${x}
			}
			var v any
			var err error
			if local, ok := vars[name]; ok {
				v = local
			} else if res, attr, ok := strings.Cut(name, "."); ok {
				v, err = r.intrinsic("Fn::GetAtt", []any{res, attr})
			} else {
				v, err = r.ref(name)
			}
			if err != nil {
				ferr = err
				return ""
			}
			return scalarString(v)
		})
		return out, ferr
	case "Fn::If":
		if len(args) != 3 {
			return nil, fmt.Errorf("Fn::If %v", arg)
		}
		c, err := r.condition(scalarString(args[0]))
		if err != nil {
			return nil, err
		}
		if c {
			return r.eval(args[1])
		}
		return r.eval(args[2])
	case "Fn::Equals":
		ev, err := r.eval(args)
		if err != nil {
			return nil, err
		}
		l := ev.([]any)
		if len(l) != 2 {
			return nil, fmt.Errorf("Fn::Equals %v", arg)
		}
		return scalarString(l[0]) == scalarString(l[1]), nil
	case "Fn::Not", "Fn::And", "Fn::Or":
		ev, err := r.eval(args)
		if err != nil {
			return nil, err
		}
		var bs []bool
		for _, e := range ev.([]any) {
			b, ok := e.(bool)
			if !ok {
				return nil, fmt.Errorf("%s of %v", fn, e)
			}
			bs = append(bs, b)
		}
		switch fn {
		case "Fn::Not":
			if len(bs) != 1 {
				return nil, fmt.Errorf("Fn::Not %v", arg)
			}
			return !bs[0], nil
		case "Fn::And":
			return !slices.Contains(bs, false), nil
		default:
			return slices.Contains(bs, true), nil
		}
	case "Fn::Join":
		ev, err := r.eval(args)
		if err != nil {
			return nil, err
		}
		l := ev.([]any)
		if len(l) != 2 {
			return nil, fmt.Errorf("Fn::Join %v", arg)
		}
		var parts []string
		for _, p := range asList(l[1]) {
			parts = append(parts, scalarString(p))
		}
		return strings.Join(parts, scalarString(l[0])), nil
	case "Fn::Split":
		ev, err := r.eval(args)
		if err != nil {
			return nil, err
		}
		l := ev.([]any)
		var out []any
		for _, p := range strings.Split(scalarString(l[1]), scalarString(l[0])) {
			out = append(out, p)
		}
		return out, nil
	case "Fn::FindInMap":
		ev, err := r.eval(args)
		if err != nil {
			return nil, err
		}
		l := ev.([]any)
		if len(l) != 3 {
			return nil, fmt.Errorf("Fn::FindInMap %v", arg)
		}
		m, ok := asMap(asMap(r.tpl["Mappings"])[scalarString(l[0])])[scalarString(l[1])]
		if !ok {
			return nil, fmt.Errorf("Fn::FindInMap: mapping %v has no key %v", l[0], l[1])
		}
		v, ok := asMap(m)[scalarString(l[2])]
		if !ok {
			return nil, fmt.Errorf("Fn::FindInMap: %v.%v has no key %v", l[0], l[1], l[2])
		}
		return v, nil
	case "Fn::Select":
		ev, err := r.eval(args)
		if err != nil {
			return nil, err
		}
		l := ev.([]any)
		i, err := strconv.Atoi(scalarString(l[0]))
		list := asList(l[1])
		if err != nil || i < 0 || i >= len(list) {
			return nil, fmt.Errorf("Fn::Select %v", arg)
		}
		return list[i], nil
	}
	return nil, fmt.Errorf("%s is not supported by this evaluator", fn)
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

// strs returns a string or a list of strings as a list.
func strs(v any) []string {
	if s, ok := v.(string); ok {
		return []string{s}
	}
	var out []string
	for _, e := range asList(v) {
		out = append(out, scalarString(e))
	}
	return out
}

// scalarString renders a scalar as CloudFormation passes it on: numbers and
// booleans as their text.
func scalarString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

func TestResolveIntrinsics(t *testing.T) {
	tpl, err := parseCFN([]byte(`
Parameters:
  Name: {Type: String, Default: n}
  Num: {Type: Number, Default: 0}
Conditions:
  NumZero: !Equals [!Ref Num, '0']
  Both: !And [!Condition NumZero, !Not [!Equals [!Ref Name, '']]]
Resources:
  Thing:
    Type: X
    Properties:
      A: !Sub 'arn:${AWS::Partition}:s3:::${Name}/${!dt}/${Other.Arn}'
      B: !If [Both, [!Ref Name, !Ref AWS::NoValue, x], y]
      C: !Join ['-', !Split [',', 'a,b']]
      D: !Select [1, [p, q]]
      E: !Sub ['${V}!', {V: !Ref Thing}]
  Other:
    Type: Y
    Condition: Both
`))
	if err != nil {
		t.Fatal(err)
	}
	s := resolve(t, tpl, nil)
	p := s.props(t, "Thing")
	want := map[string]any{
		"A": "arn:aws:s3:::n/${dt}/{{Other.Arn}}",
		"B": []any{"n", "x"},
		"C": "a-b",
		"D": "q",
		"E": "{{Thing}}!",
	}
	if fmt.Sprint(p) != fmt.Sprint(want) {
		t.Errorf("resolved %v, want %v", p, want)
	}
	if _, ok := s.resources["Other"]; !ok {
		t.Error("Other's condition holds, but it is not in the stack")
	}
	s = resolve(t, tpl, map[string]string{"Num": "1"})
	if _, ok := s.resources["Other"]; ok || s.props(t, "Thing")["B"] != "y" {
		t.Errorf("with Num=1: resources %v", s.resources)
	}
}
