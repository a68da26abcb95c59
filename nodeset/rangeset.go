package nodeset

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// An index is one number of a name as written ("7", "007", "-3"). Like
// ClusterShell 1.9, indexes are strings, so that "7" and "07" are two names.

// lessIndex is ClusterShell's index order: negative numbers first (ascending),
// then by length, then as text, so 9 < 10 < 00 < 01 < 99 < 100.
func lessIndex(a, b string) bool {
	an, bn := strings.HasPrefix(a, "-"), strings.HasPrefix(b, "-")
	switch {
	case an != bn:
		return an
	case an && len(a) != len(b):
		return len(a) > len(b)
	case an:
		return a > b
	case len(a) != len(b):
		return len(a) < len(b)
	}
	return a < b
}

func compareIndex(a, b string) int {
	switch {
	case a == b:
		return 0
	case lessIndex(a, b):
		return -1
	}
	return 1
}

// padded reports whether an index carries zero padding ("07", "00").
func padded(ix string) bool { return len(ix) > 1 && ix[0] == '0' }

// runs cuts sorted indexes into ClusterShell's folded ranges ("lo-hi" or
// "lo"), following RangeSet._slices_padding without autostep: a run is
// consecutive numbers of one padding state; a run broken by a gap is written
// index by index when its step was 2 or more, its last index then starting the
// next run with the same padding state ("02,10-99,100": 10-99 is padded to
// two digits, so 100 starts a run of its own).
func runs(sorted []string) []string {
	var out []string
	var start, last, step *big.Int // step: nil while the run holds one index
	runPadded, runLen := false, 0
	emit := func(lo, hi *big.Int) {
		pad := 0
		if runPadded {
			pad = runLen
		}
		r := zeroPad(lo.String(), pad)
		if lo.Cmp(hi) != 0 {
			r += "-" + zeroPad(hi.String(), pad)
		}
		out = append(out, r)
	}
	emitEach := func(lo, hi, step *big.Int) {
		for j := new(big.Int).Set(lo); j.Cmp(hi) <= 0; j.Add(j, step) {
			emit(j, j)
		}
	}
	for _, ix := range sorted {
		v := value(ix)
		if start == nil {
			start, last, runPadded, runLen = v, v, padded(ix), len(ix)
			continue
		}
		d := new(big.Int).Sub(v, last)
		padMismatch := runPadded && len(ix) != runLen || !runPadded && padded(ix)
		stepMismatch := !padMismatch && step != nil && step.Cmp(d) != 0
		if !padMismatch && !stepMismatch {
			step, last = d, v
			continue
		}
		switch {
		case step == nil || step.Cmp(bigOne) == 0:
			emit(start, last)
			start, runPadded, runLen = v, padded(ix), len(ix)
		case padMismatch:
			emitEach(start, last, step)
			start, runPadded, runLen = v, padded(ix), len(ix)
		default:
			emitEach(start, new(big.Int).Sub(last, step), step)
			start = last
		}
		if stepMismatch {
			step = d
		} else {
			step = nil
		}
		last = v
	}
	if step == nil || step.Cmp(bigOne) == 0 {
		emit(start, last)
	} else {
		emitEach(start, last, step)
	}
	return out
}

var (
	bigOne = big.NewInt(1)
	// maxIndex is ClusterShell's bound on a number (1e100).
	maxIndex = new(big.Int).Exp(big.NewInt(10), big.NewInt(100), nil)
)

// value is the number an index stands for; ix is a valid index.
func value(ix string) *big.Int {
	v, _ := new(big.Int).SetString(ix, 10)
	return v
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseRangeSet parses the inside of a bracket ("1-3,07,10-20/5") into its
// distinct indexes, in no order, as ClusterShell's RangeSet does. It never
// produces more than Limit indexes, counting each range as written.
func parseRangeSet(text string) ([]string, error) {
	set := map[string]struct{}{}
	made := 0
	for _, item := range strings.Split(text, ",") {
		lo, hi, step, pad, err := parseRange(item, text)
		if err != nil {
			return nil, err
		}
		n := new(big.Int).Sub(hi, lo)
		n.Quo(n, step)
		if n.Cmp(big.NewInt(int64(Limit-made))) >= 0 {
			return nil, fmt.Errorf("%q holds more than %d numbers", "["+text+"]", Limit)
		}
		count := int(n.Int64()) + 1
		made += count
		if hi.IsInt64() && lo.IsInt64() && step.IsInt64() {
			for v, i := lo.Int64(), 0; i < count; v, i = v+step.Int64(), i+1 {
				set[zeroPad(strconv.FormatInt(v, 10), pad)] = struct{}{}
			}
			continue
		}
		v := new(big.Int).Set(lo)
		for range count {
			set[zeroPad(v.String(), pad)] = struct{}{}
			v.Add(v, step)
		}
	}
	out := make([]string, 0, len(set))
	for ix := range set {
		out = append(out, ix)
	}
	return out, nil
}

// zeroPad pads a number to pad digits, as "%0*d" does.
func zeroPad(s string, pad int) string {
	if len(s) < pad && !strings.HasPrefix(s, "-") {
		s = strings.Repeat("0", pad-len(s)) + s
	}
	return s
}

// parseRange parses one item of a bracket: "5", "1-10", "01-10/2", "-3",
// "-5-5", "-9--6", with the padding rule of ClusterShell 1.9: when either end
// is zero-padded, both ends have the same number of digits.
func parseRange(item, text string) (lo, hi, step *big.Int, pad int, err error) {
	sub := strings.TrimFunc(item, isSpace)
	bad := func(why string) error {
		if sub == "" {
			return fmt.Errorf("empty range in %q", "["+text+"]")
		}
		return fmt.Errorf("range %q in %q: %s", sub, "["+text+"]", why)
	}
	const numbers = "write numbers and ranges such as [1-3,7] or [01-12/2]"
	base, stepText, hasStep := strings.Cut(sub, "/")
	step = big.NewInt(1)
	if hasStep {
		t := strings.TrimFunc(stepText, isSpace)
		sign := 1
		if rest, ok := strings.CutPrefix(t, "-"); ok {
			t, sign = rest, -1
		} else if rest, ok := strings.CutPrefix(t, "+"); ok {
			t = rest
		}
		if !allDigits(t) {
			return nil, nil, nil, 0, bad("the step is not a number; " + numbers)
		}
		step.SetString(t, 10)
		if sign < 0 {
			step.Neg(step)
		}
	}
	var begin, end string
	beginNeg, endNeg := false, false
	if !strings.Contains(base, "-") {
		if step.Cmp(bigOne) != 0 {
			return nil, nil, nil, 0, bad("a step needs a range, as in 1-9/2")
		}
		begin = strings.TrimFunc(base, isSpace)
		end = begin
	} else {
		p := strings.Split(base, "-")
		for i := range p {
			p[i] = strings.TrimFunc(p[i], isSpace)
		}
		// ClusterShell ignores what precedes the first "-" of "1-2-3" (reading
		// -2-3); grifork asks for a range it can read one way only.
		switch {
		case len(p) == 2 && p[0] == "":
			begin, end, beginNeg, endNeg = p[1], p[1], true, true
		case len(p) == 2:
			begin, end = p[0], p[1]
		case len(p) == 3 && p[0] == "":
			begin, end, beginNeg = p[1], p[2], true
		case len(p) == 4 && p[0] == "" && p[2] == "":
			begin, end, beginNeg, endNeg = p[1], p[3], true, true
		default:
			return nil, nil, nil, 0, bad(numbers)
		}
	}
	if !allDigits(begin) || !allDigits(end) {
		return nil, nil, nil, 0, bad(numbers)
	}
	// Padding as RangeSet._parse computes it: "0" and "00-10" are fine, "1-044"
	// and "001-44" are not.
	endPadded := end[0] == '0' && strings.Trim(end, "0") != ""
	if padded(begin) {
		pad = len(begin)
	}
	if (pad > 0 || endPadded) && len(begin) != len(end) {
		return nil, nil, nil, 0, bad("padding length mismatch: with zero padding both ends have the same number of digits, as in 01-44 or 001-044")
	}
	if pad > 0 && beginNeg {
		return nil, nil, nil, 0, bad("zero padding is not supported in negative ranges")
	}
	lo, hi = value(begin), value(end)
	if hi.Cmp(maxIndex) > 0 {
		return nil, nil, nil, 0, bad("numbers stop at 1e100")
	}
	if beginNeg {
		lo.Neg(lo)
	}
	if endNeg {
		hi.Neg(hi)
	}
	if lo.Cmp(hi) > 0 {
		return nil, nil, nil, 0, bad("the range goes down")
	}
	if step.Sign() < 1 {
		return nil, nil, nil, 0, bad("the step must be 1 or more")
	}
	return lo, hi, step, pad, nil
}
