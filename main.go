// Command latchkey runs the Latchkey customer portal for smart locks.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/latchkey/latchkey/web"
)

func main() {
	if err := web.Run(context.Background(), os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "latchkey: %v\n", err)
		os.Exit(1)
	}
}
