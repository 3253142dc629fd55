package redisevents

// SetMaxOwed sets how many jobs f owes a wake-up each before it owes every
// watcher one instead (tests: a small cap).
func SetMaxOwed(f *Fanout, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.maxOwed = n
}

// Owed returns how many jobs f owes a wake-up, and whether it owes every
// watcher one.
func Owed(f *Fanout) (jobs int, everyone bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.owed), f.everyone != 0
}
