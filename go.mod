module github.com/wgu-project/wgu

go 1.24

require golang.org/x/crypto v0.37.0
