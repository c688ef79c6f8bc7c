// The providers layer: model runtimes that run inside the server.
