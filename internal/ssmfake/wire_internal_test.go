package ssmfake

import (
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"testing"
	"unicode/utf8"
)

// appendJSONString must read back, through encoding/json, as the string
// with each invalid UTF-8 byte replaced by U+FFFD.
func TestAppendJSONString(t *testing.T) {
	cases := []string{"", "plain", `q"uote`, `back\slash`, "nl\n cr\r tab\t nul\x00 us\x1f del\x7f",
		"ü 修复 🚀", "bad \xff byte", "cut \xe4\xbf", "\u2028\u2029", "\ufffd literal", "</script>&"}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		b := make([]byte, rng.IntN(12))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		cases = append(cases, string(b))
	}
	for _, s := range cases {
		out := appendJSONString(nil, s)
		var got string
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("%q encodes as invalid JSON %s: %v", s, out, err)
		}
		var want []rune
		for i := 0; i < len(s); {
			r, n := utf8.DecodeRuneInString(s[i:])
			want = append(want, r)
			i += n
		}
		if got != string(want) {
			t.Fatalf("%q reads back as %q", s, got)
		}
	}
}

func TestAppendEpoch(t *testing.T) {
	for _, c := range []struct {
		ms   int64
		want string
	}{
		{0, "0.000"}, {1, "0.001"}, {-1, "-0.001"}, {1_764_000_000_123, "1764000000.123"},
		{-1_500, "-1.500"}, {1_000, "1.000"},
	} {
		if got := string(appendEpoch(nil, c.ms)); got != c.want {
			t.Errorf("appendEpoch(%d) = %s, want %s", c.ms, got, c.want)
		}
		if _, err := strconv.ParseFloat(c.want, 64); err != nil {
			t.Error(err)
		}
	}
}
