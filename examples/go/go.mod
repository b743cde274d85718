module corq.dev/corq

go 1.19
