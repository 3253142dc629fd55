package main

import "github.com/whetstone/whetstone/web"

// The web UI (package web: the built single-page app, embedded) is served at /.
func init() { webHandler = web.Handler() }
