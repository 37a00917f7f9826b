package post

import "unicode/utf8"

// IsEmoji reports whether s is exactly one emoji: a pictograph with its optional
// variation selector and skin tone, several joined by ZWJ (a family, a profession), a
// flag (two regional indicators, or a black flag with tag characters) or a keycap. It is
// deliberately strict: a reaction is a symbol, not a word in disguise.
func IsEmoji(s string) bool {
	if s == "" || len(s) > MaxEmoji || !utf8.ValidString(s) {
		return false
	}
	rs := []rune(s)
	// An if per form, not a tagless switch, so that gremlins can see them tested.
	if isRegional(rs[0]) { // a flag
		return len(rs) == 2 && isRegional(rs[1])
	}
	if rs[0] >= '0' && rs[0] <= '9' || rs[0] == '#' || rs[0] == '*' { // a keycap
		return len(rs) == 3 && rs[1] == 0xFE0F && rs[2] == 0x20E3 || len(rs) == 2 && rs[1] == 0x20E3
	}
	if rs[0] == 0x1F3F4 && len(rs) > 2 && rs[len(rs)-1] == 0xE007F { // a black flag with tags
		for _, r := range rs[1 : len(rs)-1] {
			if r < 0xE0020 || r > 0xE007E {
				return false
			}
		}
		return true
	}
	i := 0
	for {
		if i >= len(rs) || !isPictograph(rs[i]) {
			return false
		}
		i++
		if i < len(rs) && rs[i] == 0xFE0F {
			i++
		}
		if i < len(rs) && rs[i] >= 0x1F3FB && rs[i] <= 0x1F3FF {
			i++
		}
		if i == len(rs) {
			return true
		}
		if rs[i] != 0x200D {
			return false
		}
		i++
	}
}

func isRegional(r rune) bool { return r >= 0x1F1E6 && r <= 0x1F1FF }

// pictographs approximates Unicode's Extended_Pictographic property by its blocks, as
// inclusive ranges: the skin tone modifiers (U+1F3FB-1F3FF) and the regional indicators
// (U+1F1E6-1F1FF) are left out, since they only modify or pair.
var pictographs = [][2]rune{
	{0x1F300, 0x1F3FA}, {0x1F400, 0x1FAFF},
	{0x1F000, 0x1F1E5}, {0x1F200, 0x1F2FF},
	{0x2600, 0x27BF}, {0x2300, 0x23FF}, {0x2B00, 0x2BFF}, {0x2190, 0x21FF}, {0x25A0, 0x25FF}, {0x2900, 0x297F},
	{0x00A9, 0x00A9}, {0x00AE, 0x00AE}, {0x203C, 0x203C}, {0x2049, 0x2049}, {0x2122, 0x2122}, {0x2139, 0x2139},
	{0x24C2, 0x24C2}, {0x3030, 0x3030}, {0x303D, 0x303D}, {0x3297, 0x3297}, {0x3299, 0x3299},
}

// isPictograph reports whether r is in one of the pictographs' ranges.
func isPictograph(r rune) bool {
	for _, b := range pictographs {
		if r >= b[0] && r <= b[1] {
			return true
		}
	}
	return false
}
