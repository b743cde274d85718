package corq_test

import (
	"os"
	"strings"
	"testing"
)

// The README's examples are excerpts of example_test.go, which go test runs: every line of a go
// block in README.md (but "..." lines, which mark what is left out) is a line of example_test.go,
// so the manual cannot drift from the tested code.
func TestTheReadmesExamplesAreTheTestedOnes(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	source, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]bool{}
	for _, line := range strings.Split(string(source), "\n") {
		lines[strings.TrimSpace(line)] = true
	}
	blocks, checked := strings.Split(string(readme), "```go\n")[1:], 0
	if len(blocks) < 2 {
		t.Fatalf("README.md has %d go blocks, want the work queue and pub/sub at least", len(blocks))
	}
	for _, block := range blocks {
		block = block[:strings.Index(block, "```")]
		for _, line := range strings.Split(block, "\n") {
			line = strings.TrimSpace(line)
			if line == "" || line == "..." || strings.HasPrefix(line, "// Then") {
				continue
			}
			if !lines[line] {
				t.Errorf("README.md line %q is not in example_test.go", line)
			}
			checked++
		}
	}
	t.Logf("%d README lines checked", checked)
}
