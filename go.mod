module github.com/whetstone/whetstone

go 1.26
