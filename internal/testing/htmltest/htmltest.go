// Package htmltest reads parsed HTML in tests: attributes and the text a reader sees.
package htmltest

import (
	"strings"
	"testing"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// Parse parses body as an HTML document, failing t if it cannot.
func Parse(t testing.TB, body string) *html.Node {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parsing HTML: %v\n%s", err, body)
	}
	return doc
}

// Find returns n and its descendants that match, in document order.
func Find(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var found []*html.Node
	if match(n) {
		found = append(found, n)
	}
	for d := range n.Descendants() {
		if match(d) {
			found = append(found, d)
		}
	}
	return found
}

// ByTag matches elements of type a.
func ByTag(a atom.Atom) func(*html.Node) bool {
	return func(n *html.Node) bool { return n.Type == html.ElementNode && n.DataAtom == a }
}

// ByID matches the element whose id is id.
func ByID(id string) func(*html.Node) bool {
	return HasAttr("id", id)
}

// HasAttr matches elements whose attribute key is val.
func HasAttr(key, val string) func(*html.Node) bool {
	return func(n *html.Node) bool {
		if n.Type != html.ElementNode {
			return false
		}
		for _, a := range n.Attr {
			if a.Namespace == "" && a.Key == key && a.Val == val {
				return true
			}
		}
		return false
	}
}

// HasAttrKey matches elements that have attribute key, whatever its value.
func HasAttrKey(key string) func(*html.Node) bool {
	return func(n *html.Node) bool {
		if n.Type != html.ElementNode {
			return false
		}
		for _, a := range n.Attr {
			if a.Namespace == "" && a.Key == key {
				return true
			}
		}
		return false
	}
}

// Attr returns n's attribute key, or "".
func Attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// Text is the text content of n with runs of white space collapsed.
func Text(n *html.Node) string {
	var b strings.Builder
	for d := range n.Descendants() {
		if d.Type == html.TextNode {
			b.WriteString(d.Data)
			b.WriteByte(' ')
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}
