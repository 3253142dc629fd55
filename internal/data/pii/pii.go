// Package pii finds personal data and secrets in text: e-mail addresses,
// phone numbers, payment card numbers (Luhn-checked), IBANs (mod-97
// checked), US social security numbers, IPv4 and IPv6 addresses, AWS access
// key ids, GitHub and Slack tokens, JWTs and PEM private keys.
//
// The scanners are hand-written: each starts from a cheap anchor (an '@', a
// digit, a ':', a fixed prefix found with strings.Index) and validates the
// candidate, so a scan costs a few passes over the text rather than one
// regular expression per kind.
package pii

import (
	"encoding/base64"
	"encoding/json"
	"net/netip"
	"sort"
	"strings"
)

// Kind is a kind of personal data or secret.
type Kind string

// The kinds.
const (
	Email       Kind = "email"
	Phone       Kind = "phone"
	Card        Kind = "card"
	IBAN        Kind = "iban"
	SSN         Kind = "ssn"
	IPv4        Kind = "ipv4"
	IPv6        Kind = "ipv6"
	AWSKey      Kind = "aws_key"
	GitHubToken Kind = "github_token"
	SlackToken  Kind = "slack_token"
	JWT         Kind = "jwt"
	PrivateKey  Kind = "private_key"
)

// Kinds lists every kind.
var Kinds = []Kind{Email, Phone, Card, IBAN, SSN, IPv4, IPv6, AWSKey, GitHubToken, SlackToken, JWT, PrivateKey}

// Secret reports whether k is a credential rather than personal data.
func (k Kind) Secret() bool {
	switch k {
	case AWSKey, GitHubToken, SlackToken, JWT, PrivateKey:
		return true
	}
	return false
}

// Placeholder returns the typed placeholder that replaces a match of k,
// e.g. "[EMAIL]".
func (k Kind) Placeholder() string { return "[" + strings.ToUpper(string(k)) + "]" }

// Match is one finding: text[Start:End] is of kind Kind.
type Match struct {
	Kind       Kind
	Start, End int
}

// Find appends the matches in s to dst, sorted by start, without overlaps.
func Find(s string, dst []Match) []Match {
	n0 := len(dst)
	dst = findEmails(s, dst)
	dst = findNumbers(s, dst) // and IBANs, in the same pass
	dst = findIPv6(s, dst)
	dst = findSecrets(s, dst)
	found := dst[n0:]
	if len(found) < 2 {
		return dst
	}
	sort.Slice(found, func(i, j int) bool {
		if found[i].Start != found[j].Start {
			return found[i].Start < found[j].Start
		}
		return found[i].End > found[j].End
	})
	out := found[:1]
	for _, m := range found[1:] {
		if m.Start < out[len(out)-1].End {
			continue // overlaps a longer or earlier match
		}
		out = append(out, m)
	}
	return dst[:n0+len(out)]
}

// Redact replaces every match in s with its kind's placeholder. It returns
// s unchanged (no allocation) when there is none.
func Redact(s string) (string, []Match) {
	ms := Find(s, nil)
	if len(ms) == 0 {
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	last := 0
	for _, m := range ms {
		b.WriteString(s[last:m.Start])
		b.WriteString(m.Kind.Placeholder())
		last = m.End
	}
	b.WriteString(s[last:])
	return b.String(), ms
}

// Example returns a short excerpt of s around m with every match in the
// excerpt replaced by its placeholder, for reports.
func Example(s string, m Match, width int) string {
	lo, hi := max(0, m.Start-width), min(len(s), m.End+width)
	for lo > 0 && !startOfRune(s[lo]) {
		lo--
	}
	for hi < len(s) && !startOfRune(s[hi]) {
		hi++
	}
	red, _ := Redact(s[lo:hi])
	// The excerpt may cut a match at its edges; mask the match itself in
	// any case.
	if !strings.Contains(red, m.Kind.Placeholder()) {
		red = s[lo:m.Start] + m.Kind.Placeholder() + s[m.End:hi]
	}
	red = strings.Join(strings.Fields(red), " ")
	if lo > 0 {
		red = "…" + red
	}
	if hi < len(s) {
		red += "…"
	}
	return red
}

func startOfRune(b byte) bool { return b&0xC0 != 0x80 }

func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isUpper(c byte) bool  { return c >= 'A' && c <= 'Z' }
func isLower(c byte) bool  { return c >= 'a' && c <= 'z' }
func isAlnum(c byte) bool  { return isDigit(c) || isUpper(c) || isLower(c) }
func isHex(c byte) bool    { return isDigit(c) || (c|0x20 >= 'a' && c|0x20 <= 'f') }
func isWordCh(c byte) bool { return isAlnum(c) || c == '_' }

// --- e-mail

func emailLocal(c byte) bool {
	return isAlnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'
}

func findEmails(s string, dst []Match) []Match {
	for off := 0; ; {
		i := strings.IndexByte(s[off:], '@')
		if i < 0 {
			return dst
		}
		at := off + i
		off = at + 1
		lo := at
		for lo > 0 && emailLocal(s[lo-1]) && at-lo < 64 {
			lo--
		}
		for lo < at && (s[lo] == '.' || s[lo] == '-') {
			lo++
		}
		if lo == at {
			continue
		}
		// Domain: labels of [A-Za-z0-9-] separated by dots; the last
		// (TLD) has at least two letters.
		hi := at + 1
		lastDot, labels := -1, 0
		for hi < len(s) {
			c := s[hi]
			if isAlnum(c) || c == '-' {
				hi++
				continue
			}
			if c == '.' && hi+1 < len(s) && isAlnum(s[hi+1]) && s[hi-1] != '.' && s[hi-1] != '@' {
				lastDot = hi
				labels++
				hi++
				continue
			}
			break
		}
		if lastDot < 0 || labels < 1 {
			continue
		}
		tld := s[lastDot+1 : hi]
		if len(tld) < 2 || len(tld) > 24 || !allLetters(tld) {
			continue
		}
		dst = append(dst, Match{Email, lo, hi})
		off = hi
	}
}

func allLetters(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isUpper(s[i]) && !isLower(s[i]) {
			return false
		}
	}
	return true
}

// --- numbers: phone, card, SSN, IPv4

func numSep(c byte) bool { return c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' || c == '/' }

func findNumbers(s string, dst []Match) []Match {
	for i := 0; i < len(s); {
		c := s[i]
		if isUpper(c) {
			if j, ok := ibanAt(s, i); ok {
				dst = append(dst, Match{IBAN, i, j})
				i = j
				continue
			}
			i++
			continue
		}
		start := i
		if c == '+' || c == '(' {
			if i+1 >= len(s) || !isDigit(s[i+1]) {
				i++
				continue
			}
		} else if !isDigit(c) {
			i++
			continue
		}
		if start > 0 && (isWordCh(s[start-1]) || s[start-1] == '.' || s[start-1] == '-' || s[start-1] == '+' ||
			((c == '(' || c == '+') && (s[start-1] == ')' || s[start-1] == '*' || s[start-1] == '/'))) {
			if c == '(' || c == '+' {
				i++
				continue
			}
			// Inside a word or a longer number: skip the whole run.
			for i < len(s) && (isAlnum(s[i]) || s[i] == '.' || s[i] == '-') {
				i++
			}
			continue
		}
		// Extend over digits and separators (at most two in a row).
		j := start + 1
		seps := 0
		for j < len(s) {
			if isDigit(s[j]) {
				seps = 0
				j++
				continue
			}
			if numSep(s[j]) && seps < 2 {
				seps++
				j++
				continue
			}
			break
		}
		end := j
		for end > start && !isDigit(s[end-1]) && s[end-1] != ')' {
			end--
		}
		if end > start && s[end-1] == ')' && !strings.Contains(s[start:end-1], "(") {
			end--
		}
		// A number glued to letters ("123abc") is not PII.
		if end < len(s) && end == j && isAlnum(s[end]) {
			for i = end; i < len(s) && isAlnum(s[i]); i++ {
			}
			continue
		}
		dst = classifyNumbers(s, start, end, dst)
		i = max(j, start+1)
	}
	return dst
}

// classifyNumbers classifies s[start:end]; when the whole token is not PII
// it tries its space-separated parts.
func classifyNumbers(s string, start, end int, dst []Match) []Match {
	if k, ok := classifyNumber(s[start:end]); ok {
		return append(dst, Match{k, start, end})
	}
	// Try runs of parts separated by spaces, longest first.
	var cuts []int
	cuts = append(cuts, start)
	for i := start; i < end; i++ {
		if s[i] == ' ' {
			cuts = append(cuts, i+1)
		}
	}
	if len(cuts) == 1 || len(cuts) > 12 {
		return dst
	}
	ends := make([]int, len(cuts))
	for i := range cuts {
		if i+1 < len(cuts) {
			ends[i] = cuts[i+1] - 1
		} else {
			ends[i] = end
		}
	}
	for a := 0; a < len(cuts); {
		matched := false
		for b := min(len(cuts)-1, a+5); b >= a; b-- {
			lo, hi := cuts[a], ends[b]
			for hi > lo && !isDigit(s[hi-1]) && s[hi-1] != ')' {
				hi--
			}
			if hi <= lo {
				continue
			}
			if k, ok := classifyNumber(s[lo:hi]); ok {
				dst = append(dst, Match{k, lo, hi})
				a = b + 1
				matched = true
				break
			}
		}
		if !matched {
			a++
		}
	}
	return dst
}

func classifyNumber(t string) (Kind, bool) {
	digits := 0
	var gbuf [24]int
	groups := gbuf[:0]
	cur := 0
	var seps sepSet
	for i := 0; i < len(t); i++ {
		if isDigit(t[i]) {
			digits++
			cur++
			continue
		}
		if cur > 0 {
			groups = append(groups, cur)
		}
		cur = 0
		if t[i] != '+' {
			seps.add(t[i])
		}
	}
	if cur > 0 {
		groups = append(groups, cur)
	}
	if ipv4(t) {
		return IPv4, true
	}
	if ssn(t) {
		return SSN, true
	}
	onlySpaceDash := !seps.has('.') && !seps.has('(') && !seps.has(')') && !seps.has('/') && t[0] != '+'
	if onlySpaceDash && digits >= 13 && digits <= 19 && t[0] >= '2' && t[0] <= '6' && cardGroups(groups) && luhn(t) && !sameDigits(t) {
		return Card, true
	}
	if phone(t, digits, groups, seps) {
		return Phone, true
	}
	return "", false
}

// cardGroups accepts the ways card numbers are written: unseparated, or
// grouped 4-4-4-4, 4-4-4-4-3, 4-6-5 (Amex) or 4-6-4 (Diners).
func cardGroups(g []int) bool {
	switch len(g) {
	case 1:
		return true
	case 3:
		return g[0] == 4 && g[1] == 6 && (g[2] == 5 || g[2] == 4)
	case 4, 5:
		for i, n := range g {
			if n != 4 && !(i == 4 && n == 3) {
				return false
			}
		}
		return true
	}
	return false
}

func ipv4(t string) bool {
	parts := strings.Split(t, ".")
	if len(parts) != 4 {
		return false
	}
	for _, p := range parts {
		if len(p) == 0 || len(p) > 3 {
			return false
		}
		v := 0
		for i := 0; i < len(p); i++ {
			if !isDigit(p[i]) {
				return false
			}
			v = v*10 + int(p[i]-'0')
		}
		if v > 255 || (len(p) > 1 && p[0] == '0') {
			return false
		}
	}
	return true
}

// ssn matches AAA-GG-SSSS with the SSA's invalid ranges excluded (area 000,
// 666, 900-999; group 00; serial 0000).
func ssn(t string) bool {
	if len(t) != 11 || t[3] != '-' || t[6] != '-' {
		return false
	}
	for i, c := range []byte(t) {
		if i != 3 && i != 6 && !isDigit(c) {
			return false
		}
	}
	area, group, serial := t[:3], t[4:6], t[7:]
	return area != "000" && area != "666" && area[0] != '9' && group != "00" && serial != "0000"
}

func luhn(t string) bool {
	sum, n := 0, 0
	for i := len(t) - 1; i >= 0; i-- {
		c := t[i]
		if !isDigit(c) {
			continue
		}
		d := int(c - '0')
		if n%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		n++
	}
	return n > 0 && sum%10 == 0
}

func sameDigits(t string) bool {
	var first byte
	for i := 0; i < len(t); i++ {
		if isDigit(t[i]) {
			if first == 0 {
				first = t[i]
			} else if t[i] != first {
				return false
			}
		}
	}
	return true
}

// phone accepts international numbers written with a leading + (8 to 15
// digits) and North American numbers of 10 digits (11 with a leading 1)
// grouped 3-3-4 with separators. Unseparated digit runs are not phones.
func phone(t string, digits int, groups []int, seps sepSet) bool {
	if seps.has('/') {
		return false
	}
	if t[0] == '+' {
		return digits >= 8 && digits <= 15 && (len(groups) >= 2 || digits >= 10)
	}
	if len(groups) < 2 {
		return false
	}
	if seps.has('.') && (seps.has(' ') || seps.has('-')) {
		return false // 1.2 3.4-style mixtures are not phone numbers
	}
	g := groups
	if len(g) == 4 && g[0] == 1 && t[0] == '1' {
		g = g[1:]
	}
	return len(g) == 3 && g[0] == 3 && g[1] == 3 && g[2] == 4
}

// sepSet is a set of separator bytes.
type sepSet uint8

func sepBit(c byte) sepSet {
	switch c {
	case ' ':
		return 1
	case '-':
		return 2
	case '.':
		return 4
	case '(':
		return 8
	case ')':
		return 16
	case '/':
		return 32
	}
	return 64
}

func (s *sepSet) add(c byte)     { *s |= sepBit(c) }
func (s sepSet) has(c byte) bool { return s&sepBit(c) != 0 }

// --- IBAN

var ibanLen = map[string]int{
	"AD": 24, "AE": 23, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29, "CH": 21, "CR": 22,
	"CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27,
	"GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IS": 26,
	"IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24,
	"ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25,
	"QA": 29, "RO": 24, "RS": 22, "SA": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "TN": 24, "TR": 26, "UA": 29,
	"VG": 24, "XK": 20,
}

// ibanAt reports whether an IBAN starts at s[i], and where it ends.
func ibanAt(s string, i int) (int, bool) {
	if i+15 > len(s) || !isUpper(s[i+1]) || !isDigit(s[i+2]) || !isDigit(s[i+3]) || (i > 0 && isWordCh(s[i-1])) {
		return 0, false
	}
	want, ok := ibanLen[s[i:i+2]]
	if !ok {
		return 0, false
	}
	var buf [34]byte
	n, j := 0, i
	for j < len(s) && n < want {
		c := s[j]
		if isDigit(c) || isUpper(c) {
			buf[n] = c
			n++
			j++
			continue
		}
		if c == ' ' && j+1 < len(s) && (isDigit(s[j+1]) || isUpper(s[j+1])) && n%4 == 0 {
			j++
			continue
		}
		break
	}
	if n != want || (j < len(s) && isWordCh(s[j])) {
		return 0, false
	}
	return j, mod97(buf[:n]) == 1
}

// mod97 computes the IBAN checksum: the first four characters moved to the
// end, letters as 10..35, the number mod 97.
func mod97(b []byte) int {
	r := 0
	add := func(c byte) {
		if isDigit(c) {
			r = (r*10 + int(c-'0')) % 97
		} else {
			r = (r*100 + int(c-'A') + 10) % 97
		}
	}
	for _, c := range b[4:] {
		add(c)
	}
	for _, c := range b[:4] {
		add(c)
	}
	return r
}

// --- IPv6

func ip6ch(c byte) bool { return isHex(c) || c == ':' || c == '.' }

func findIPv6(s string, dst []Match) []Match {
	for off := 0; ; {
		i := strings.IndexByte(s[off:], ':')
		if i < 0 {
			return dst
		}
		c := off + i
		lo, hi := c, c
		for lo > 0 && ip6ch(s[lo-1]) {
			lo--
		}
		for hi < len(s) && ip6ch(s[hi]) {
			hi++
		}
		off = hi + 1
		if off > len(s) {
			off = len(s)
		}
		for hi > lo && s[hi-1] == '.' {
			hi--
		}
		for lo < hi && s[lo] == '.' {
			lo++
		}
		if (lo > 0 && isWordCh(s[lo-1])) || (hi < len(s) && isWordCh(s[hi])) {
			continue
		}
		t := s[lo:hi]
		if strings.Count(t, ":") < 2 {
			continue
		}
		hex, groups := 0, 0
		for _, g := range strings.Split(t, ":") {
			if g != "" {
				groups++
			}
			for k := 0; k < len(g); k++ {
				if isHex(g[k]) {
					hex++
				}
			}
		}
		if hex < 5 || groups < 2 {
			continue
		}
		a, err := netip.ParseAddr(t)
		if err != nil || !a.Is6() {
			continue
		}
		dst = append(dst, Match{IPv6, lo, hi})
	}
}

// --- secrets

func findSecrets(s string, dst []Match) []Match {
	// AWS access key ids: one scan for 'A', then the 4-letter prefix.
	for off := 0; ; {
		i := strings.IndexByte(s[off:], 'A')
		if i < 0 {
			break
		}
		i += off
		off = i + 1
		if i+20 > len(s) || (i > 0 && isWordCh(s[i-1])) || !awsPrefix(s[i:i+4]) {
			continue
		}
		j := i + 4
		for j < len(s) && (isUpper(s[j]) || isDigit(s[j])) {
			j++
		}
		if j-i != 20 || (j < len(s) && isWordCh(s[j])) {
			continue
		}
		dst = append(dst, Match{AWSKey, i, j})
		off = j
	}
	// GitHub tokens: ghp_ gho_ ghu_ ghs_ ghr_ (36 characters) and
	// github_pat_ (fine-grained).
	for off := 0; ; {
		i := strings.Index(s[off:], "gh")
		if i < 0 {
			break
		}
		i += off
		off = i + 2
		if i > 0 && isWordCh(s[i-1]) {
			continue
		}
		if i+4 <= len(s) && s[i+3] == '_' && strings.IndexByte("pousr", s[i+2]) >= 0 {
			j := i + 4
			for j < len(s) && isAlnum(s[j]) {
				j++
			}
			if j-i-4 == 36 && (j >= len(s) || !isWordCh(s[j])) {
				dst = append(dst, Match{GitHubToken, i, j})
				off = j
			}
		}
	}
	dst = findPrefixed(s, "github_pat_", dst, func(i int) int {
		j := i + 11
		for j < len(s) && isWordCh(s[j]) {
			j++
		}
		if j-i-11 < 50 {
			return -1
		}
		return j
	}, GitHubToken)
	dst = findPrefixed(s, "xox", dst, func(i int) int {
		if i+5 > len(s) || !strings.ContainsRune("abposre", rune(s[i+3])) || s[i+4] != '-' {
			return -1
		}
		j, digits := i+5, 0
		for j < len(s) && (isAlnum(s[j]) || s[j] == '-') {
			if isDigit(s[j]) {
				digits++
			}
			j++
		}
		if j-i-5 < 20 || digits < 6 {
			return -1
		}
		return j
	}, SlackToken)
	dst = findPrefixed(s, "eyJ", dst, func(i int) int { return jwtEnd(s, i) }, JWT)
	dst = findPrefixed(s, "-----BEGIN ", dst, func(i int) int {
		head := s[i+11:]
		e := strings.Index(head, "-----")
		if e < 0 || e > 40 || !strings.HasSuffix(head[:e], "PRIVATE KEY") {
			return -1
		}
		rest := i + 11 + e + 5
		if k := strings.Index(s[rest:], "-----END "); k >= 0 {
			if m := strings.Index(s[rest+k+9:], "-----"); m >= 0 && m <= 40 {
				return rest + k + 9 + m + 5
			}
		}
		return len(s) // an unterminated key: redact to the end
	}, PrivateKey)
	return dst
}

func awsPrefix(p string) bool {
	switch p {
	case "AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AROA", "ANPA":
		return true
	}
	return false
}

func findPrefixed(s, prefix string, dst []Match, end func(i int) int, k Kind) []Match {
	for off := 0; ; {
		i := strings.Index(s[off:], prefix)
		if i < 0 {
			return dst
		}
		i += off
		off = i + len(prefix)
		if i > 0 && isWordCh(s[i-1]) && prefix[0] != '-' {
			continue
		}
		if j := end(i); j > 0 {
			dst = append(dst, Match{k, i, j})
			off = j
		}
	}
}

func b64url(c byte) bool { return isAlnum(c) || c == '-' || c == '_' }

// jwtEnd returns the end of a JWT starting at i: three base64url segments
// separated by dots whose first decodes to a JSON object with "alg".
func jwtEnd(s string, i int) int {
	var seg [3]int
	j := i
	for k := 0; k < 3; k++ {
		st := j
		for j < len(s) && b64url(s[j]) {
			j++
		}
		if j-st < 4 && k < 2 || (k == 2 && j-st < 8) {
			return -1
		}
		seg[k] = j
		if k < 2 {
			if j >= len(s) || s[j] != '.' {
				return -1
			}
			j++
		}
	}
	head, err := base64.RawURLEncoding.DecodeString(s[i:seg[0]])
	if err != nil {
		return -1
	}
	var h map[string]any
	if json.Unmarshal(head, &h) != nil || h["alg"] == nil {
		return -1
	}
	return j
}
