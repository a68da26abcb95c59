// Package gopool runs functions on goroutines that it keeps for the next ones.
//
// A new goroutine's stack starts small and is copied each time a call deepens
// past it; for a short function (a task of a dry run, a helper whose command
// returns at once) that costs more than the function. A goroutine of the pool
// has grown its stack already.
package gopool
