package views

import "strings"

const productName = "Latchkey"

func pageTitle(title string) string {
	if title == "" {
		return productName
	}
	return title + " · " + productName
}

// isCurrent reports whether the navigation entry href covers path.
func isCurrent(path, href string) bool {
	return path == href || strings.HasPrefix(path, href+"/")
}

// retryURL keeps "try again" on this site: only local paths are allowed.
func retryURL(u string) string {
	if strings.HasPrefix(u, "/") && !strings.HasPrefix(u, "//") && !strings.HasPrefix(u, `/\`) {
		return u
	}
	return "/"
}
