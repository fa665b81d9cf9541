// Command latchkey runs the Latchkey customer portal for smart locks.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/latchkey/latchkey/web"
)

func main() {
	err := web.Run(context.Background(), os.Args, os.Getenv, os.Stdout, os.Stderr)
	if err == nil {
		return
	}
	code := 1
	var exit *web.ExitError
	if errors.As(err, &exit) {
		code = exit.Code
		if exit.Err == nil {
			os.Exit(code)
		}
	}
	fmt.Fprintf(os.Stderr, "latchkey: %v\n", err)
	os.Exit(code)
}
