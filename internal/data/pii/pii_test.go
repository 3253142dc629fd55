package pii

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFind(t *testing.T) {
	t.Parallel()
	ghp := "ghp_" + strings.Repeat("aB3", 12)
	tests := []struct {
		name string
		text string
		want []string // "kind:match"
	}{
		{"email", "write to jane.doe+news@mail.example.co.uk today", []string{"email:jane.doe+news@mail.example.co.uk"}},
		{"email near misses", "user@localhost, a@b.c, @handle, x@.com, foo@bar", nil},
		{"phone us", "call (555) 123-4567 or 555.987.6543 or 1-800-555-0199.", []string{"phone:(555) 123-4567", "phone:555.987.6543", "phone:1-800-555-0199"}},
		{"phone intl", "office +44 20 7946 0958, mobile +33612345678", []string{"phone:+44 20 7946 0958", "phone:+33612345678"}},
		{"phone near misses", "on 2024-01-15 order 1234567890 v1.2.3 ratio 3/4/2021 total 12 345 678 sum 821091117+555-123-4567", nil},
		{"card", "visa 4111 1111 1111 1111, mc 5500-0000-0000-0004, amex 378282246310005", []string{"card:4111 1111 1111 1111", "card:5500-0000-0000-0004", "card:378282246310005"}},
		{"card fails luhn", "visa 4111 1111 1111 1112 and 0000 0000 0000 0000", nil},
		{"iban", "pay DE89 3704 0044 0532 0130 00 or GB82WEST12345698765432.", []string{"iban:DE89 3704 0044 0532 0130 00", "iban:GB82WEST12345698765432"}},
		{"iban bad checksum", "pay DE89 3704 0044 0532 0130 01 or GB82WEST12345698765433", nil},
		{"ssn", "SSN 123-45-6789.", []string{"ssn:123-45-6789"}},
		{"ssn invalid ranges", "000-12-3456 666-12-3456 900-12-3456 123-00-4567 123-45-0000", nil},
		{"ipv4", "host 192.168.1.10 and 8.8.8.8", []string{"ipv4:192.168.1.10", "ipv4:8.8.8.8"}},
		{"ipv4 near misses", "256.1.1.1 1.2.3 1.2.3.4.5 01.2.3.4", nil},
		{"ipv6", "addr 2001:db8::8a2e:370:7334 and fe80::1.", []string{"ipv6:2001:db8::8a2e:370:7334", "ipv6:fe80::1"}},
		{"ipv6 near misses", "at 12:34:56, std::vector, a::b, dead:beef", nil},
		{"aws", "key=AKIAIOSFODNN7EXAMPLE;", []string{"aws_key:AKIAIOSFODNN7EXAMPLE"}},
		{"aws near misses", "AKIAIOSFODNN7EXAMPL xAKIAIOSFODNN7EXAMPLE AKIAIOSFODNN7EXAMPLE1", nil},
		{"github", "token " + ghp + " ok", []string{"github_token:" + ghp}},
		{"github near miss", "token " + ghp[:len(ghp)-1] + " ok", nil},
		{"github pat", "github_pat_" + strings.Repeat("A1_", 20), []string{"github_token:github_pat_" + strings.Repeat("A1_", 20)}},
		{"slack", "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", []string{"slack_token:xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"}},
		{"slack near miss", "xoxb-short xoxz-123456789012-1234567890123-abc", nil},
		{"jwt", "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U end",
			[]string{"jwt:eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"}},
		{"jwt near misses", "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIx and eyJub3RoaW5nIjoxfQ.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w", nil},
		{"pem", "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\nbye",
			[]string{"private_key:-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----"}},
		{"pem near misses", "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY----- -----BEGIN CERTIFICATE-----", nil},
		{"mixed", "Jane (jane@x.org, 555-123-4567) paid with 4111-1111-1111-1111 from 10.0.0.1",
			[]string{"email:jane@x.org", "phone:555-123-4567", "card:4111-1111-1111-1111", "ipv4:10.0.0.1"}},
		{"plain", "The year 1984 had 365 days; pi is 3.14159 and 2+2=4. Room 101, floor 3.", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			for _, m := range Find(tt.text, nil) {
				got = append(got, string(m.Kind)+":"+tt.text[m.Start:m.End])
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	got, ms := Redact("mail jane@x.org or call +1 555 123 4567, SSN 123-45-6789")
	want := "mail [EMAIL] or call [PHONE], SSN [SSN]"
	if got != want || len(ms) != 3 {
		t.Errorf("Redact = %q (%d matches), want %q", got, len(ms), want)
	}
	s := strings.Repeat("x", 100) + " contact jane@x.org now " + strings.Repeat("y", 100)
	m := Find(s, nil)[0]
	if ex := Example(s, m, 10); ex != "…x contact [EMAIL] now yyyyy…" {
		t.Errorf("Example = %q", ex)
	}
	if r, _ := Redact("nothing here"); r != "nothing here" {
		t.Error(r)
	}
}

func FuzzFind(f *testing.F) {
	f.Add("call (555) 123-4567 or jane@x.org, 4111 1111 1111 1111, DE89 3704 0044 0532 0130 00, fe80::1")
	f.Add("eyJhbGciOiJIUzI1NiJ9.eyJhIjoxfQ.abcdefgh -----BEGIN EC PRIVATE KEY----- xoxb-1234567890-abcdefghij")
	f.Fuzz(func(t *testing.T, s string) {
		ms := Find(s, nil)
		last := 0
		for _, m := range ms {
			if m.Start < last || m.End <= m.Start || m.End > len(s) {
				t.Fatalf("bad match %+v in %q", m, s)
			}
			last = m.End
		}
		r, _ := Redact(s)
		if len(ms) == 0 && r != s {
			t.Fatal("redacted text without matches")
		}
	})
}
