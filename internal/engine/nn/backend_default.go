package nn

func defaultBackend() Backend { return goBackend{} }
