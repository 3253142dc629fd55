package pii_test

import (
	"fmt"

	"github.com/whetstone/whetstone/internal/data/pii"
)

func ExampleRedact() {
	s, matches := pii.Redact("Mail jane@example.org or call (555) 123-4567; card 4111 1111 1111 1111, not 4111 1111 1111 1112.")
	fmt.Println(s)
	fmt.Println(len(matches))
	// Output:
	// Mail [EMAIL] or call [PHONE]; card [CARD], not 4111 1111 1111 1112.
	// 3
}
