package auth

import (
	"net/url"
	"strings"
)

// SafeReturnTo returns s when it is a path on this site, and "" otherwise. It refuses
// everything a browser could take to another origin: `//host`, `/\host`, schemes, and
// the same again behind percent-encoding or control characters.
func SafeReturnTo(s string) string {
	if len(s) == 0 || len(s) > 2048 {
		return ""
	}
	candidate := s
	// Check the raw text and its decoded forms: a later hop may decode again. Text still
	// encoded after a few rounds is refused rather than guessed at.
	for round := 0; ; round++ {
		if !localPath(candidate) {
			return ""
		}
		decoded, err := url.PathUnescape(candidate)
		if err != nil || (decoded != candidate && round == 3) {
			return ""
		}
		if decoded == candidate {
			break
		}
		candidate = decoded
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return ""
	}
	return s
}

func localPath(s string) bool {
	if !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") {
		return false
	}
	for _, c := range s {
		if c == '\\' || c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}
