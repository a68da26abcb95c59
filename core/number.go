package core

import (
	"strconv"
	"time"
)

// Seconds writes d in seconds, the unit of the timeout settings: 600s, 1.5s.
func Seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s"
}
