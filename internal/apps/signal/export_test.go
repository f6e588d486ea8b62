package signal

// Hooks for the black-box tests in package signal_test (which cannot be internal: the node
// they start imports this package).

// NewBloom returns a filter of n bytes holding members, as a client builds it.
func NewBloom(n int, members ...string) []byte {
	b := make(bloom, n)
	for _, m := range members {
		b.add(m)
	}
	return b
}
