module github.com/whetstone/whetstone

go 1.26

require (
	github.com/google/go-cmp v0.7.0
	github.com/x448/float16 v0.8.4
)
