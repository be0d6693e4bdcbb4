//go:build !linux

package main

import "time"

// preciseSleeper: elsewhere, Go's timer (about 1 ms resolution on some systems).
func preciseSleeper() func(time.Duration) { return time.Sleep }
