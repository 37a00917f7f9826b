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
	switch {
	case isRegional(rs[0]):
		return len(rs) == 2 && isRegional(rs[1])
	case rs[0] >= '0' && rs[0] <= '9' || rs[0] == '#' || rs[0] == '*':
		return len(rs) == 3 && rs[1] == 0xFE0F && rs[2] == 0x20E3 || len(rs) == 2 && rs[1] == 0x20E3
	case rs[0] == 0x1F3F4 && len(rs) > 2 && rs[len(rs)-1] == 0xE007F:
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

// isPictograph approximates Unicode's Extended_Pictographic property by its blocks.
func isPictograph(r rune) bool {
	switch {
	case r >= 0x1F300 && r <= 0x1FAFF && !(r >= 0x1F3FB && r <= 0x1F3FF),
		r >= 0x1F000 && r <= 0x1F2FF && !isRegional(r),
		r >= 0x2600 && r <= 0x27BF,
		r >= 0x2300 && r <= 0x23FF,
		r >= 0x2B00 && r <= 0x2BFF,
		r >= 0x2190 && r <= 0x21FF,
		r >= 0x25A0 && r <= 0x25FF,
		r >= 0x2900 && r <= 0x297F,
		r == 0x00A9, r == 0x00AE, r == 0x203C, r == 0x2049, r == 0x2122, r == 0x2139,
		r == 0x24C2, r == 0x3030, r == 0x303D, r == 0x3297, r == 0x3299:
		return true
	}
	return false
}
