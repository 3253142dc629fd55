package main

import "github.com/whetstone/whetstone/web"

// `whet serve` serves the web UI at / beside the API.
func init() { webHandler = web.Handler() }
