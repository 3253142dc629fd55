package main

import "github.com/whetstone/whetstone/web"

// The web UI (web/dist, embedded) is served at / by `whet serve`.
func init() { webHandler = web.Handler() }
