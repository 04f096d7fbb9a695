// doubleselect: the Go peer of bench/doubleselect.sk, Go's
// test/chan/doubleselect.go with a checksum (the count and the sum of the
// values received) and without its fixed GOMAXPROCS(2).
// Usage: [GOMAXPROCS=1|2] main [n=100000]
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
)

// sender sends 0 .. n-1, each on whichever of the four channels takes it
// first, then closes all four.
func sender(n int, c1, c2, c3, c4 chan<- int) {
	defer close(c1)
	defer close(c2)
	defer close(c3)
	defer close(c4)
	for i := 0; i < n; i++ {
		select {
		case c1 <- i:
		case c2 <- i:
		case c3 <- i:
		case c4 <- i:
		}
	}
}

// mux forwards every value of in to out, then reports on done.
func mux(out chan<- int, in <-chan int, done chan<- bool) {
	for v := range in {
		out <- v
	}
	done <- true
}

func main() {
	n := 100000
	if len(os.Args) > 1 {
		n, _ = strconv.Atoi(os.Args[1])
	}
	c1 := make(chan int)
	c2 := make(chan int)
	c3 := make(chan int)
	c4 := make(chan int)
	done := make(chan bool)
	cmux := make(chan int)
	go sender(n, c1, c2, c3, c4)
	go mux(cmux, c1, done)
	go mux(cmux, c2, done)
	go mux(cmux, c3, done)
	go mux(cmux, c4, done)
	go func() {
		<-done
		<-done
		<-done
		<-done
		close(cmux)
	}()
	// The receiver: every value once.
	seen := make(map[int]bool)
	count, sum := 0, 0
	for v := range cmux {
		if seen[v] {
			fmt.Println("got duplicate value:", v)
			os.Exit(1)
		}
		seen[v] = true
		count++
		sum += v
	}
	fmt.Printf("checksum %d %d\n", count, sum)
	fmt.Printf("metric gomaxprocs %d\n", runtime.GOMAXPROCS(0))
}
