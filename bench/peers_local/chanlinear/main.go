// chanlinear: the Go peer of bench/chanlinear.sk, the `chanSelect` check of
// Go's test/chanlinear.go timed at n and 2n for n = 4,000 and 8,000.
// Usage: [GOMAXPROCS=1|2] main
package main

import (
	"fmt"
	"math"
	"time"
)

// Wake-ups each goroutine takes, as in Go's test.
const messages = 10

// work starts n goroutines, each selecting `messages` times on a shared
// channel and its own, and wakes each through its own channel `messages`
// rounds over; it returns how many values were sent.
func work(n int) int {
	c := make(chan bool)
	var a []chan bool
	for i := 0; i < n; i++ {
		d := make(chan bool)
		a = append(a, d)
		go func() {
			for j := 0; j < messages; j++ {
				select {
				case <-c:
					panic("the shared channel is never sent on")
				case <-d:
				}
			}
		}()
	}
	sent := 0
	for i := 0; i < messages; i++ {
		for _, d := range a {
			d <- true
			sent++
		}
	}
	return sent
}

func ms(d time.Duration) float64 {
	return math.Floor(d.Seconds()*10000+0.5) / 10
}

func main() {
	sent := 0
	for _, n := range []int{4000, 8000} {
		t0 := time.Now()
		sent += work(n)
		t1 := time.Now()
		sent += work(2 * n)
		t2 := time.Now()
		a, b := t1.Sub(t0), t2.Sub(t1)
		fmt.Printf("metric n %d time_n_ms %v time_2n_ms %v ratio %v\n", n, ms(a), ms(b),
			math.Floor(b.Seconds()/a.Seconds()*100+0.5)/100)
	}
	fmt.Printf("checksum %d\n", sent)
}
